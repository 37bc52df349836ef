//! AWS Signature Version 4 for remote write (`sigv4` in `remote_write`), as Amazon Managed
//! Service for Prometheus requires.
//!
//! The signature itself is computed by the `aws-sigv4` crate (AWS's own signer, the one the
//! Rust SDK uses); this module only finds the region and the credentials, the way the AWS SDKs
//! do, without the SDK and its async runtime:
//!
//! 1. `access_key` and `secret_key` from the configuration, when given;
//! 2. else, when no `profile` is configured, the environment: `AWS_ACCESS_KEY_ID` (or
//!    `AWS_ACCESS_KEY`), `AWS_SECRET_ACCESS_KEY` (or `AWS_SECRET_KEY`), `AWS_SESSION_TOKEN`;
//! 3. else the profile (`profile`, else `AWS_PROFILE`, else `default`) of the shared
//!    credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then of the
//!    shared config file (`AWS_CONFIG_FILE`, else `~/.aws/config`, section `[profile NAME]`).
//!    Keys in the profile (either file) come first; without them, its `credential_process`
//!    is run: the command line goes to `sh -c`, as the Go SDK does, and must print JSON with
//!    `Version` 1, `AccessKeyId`, `SecretAccessKey`, optionally `SessionToken` and
//!    `Expiration` (see the `process` module for its limits). A profile named by `profile` or
//!    `AWS_PROFILE` that holds neither ends the search here (an error): walship does not sign
//!    as some other identity than the one asked for;
//! 4. else web identity (EKS IAM roles for service accounts): with `AWS_WEB_IDENTITY_TOKEN_FILE`
//!    and `AWS_ROLE_ARN` (and `AWS_ROLE_SESSION_NAME`, else `walship-SECONDS`), the token file is
//!    read and sent to STS `AssumeRoleWithWebIdentity` (not signed; at the STS endpoint
//!    below);
//! 5. else container credentials (ECS task roles, EKS Pod Identity): `http://169.254.170.2`
//!    followed by `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, or `AWS_CONTAINER_CREDENTIALS_FULL_URI`
//!    (`https`, or `http` to a loopback address or the agents' link-local addresses), asked
//!    with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`'s content (read every time) or
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN` as `Authorization`;
//! 6. else the EC2 instance role, from the instance metadata service with IMDSv2 (a session
//!    token, then the role's name, then its credentials) at `http://169.254.169.254`,
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT`, or `http://[fd00:ec2::254]` with
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`; not asked when `AWS_EC2_METADATA_DISABLED`
//!    is `true`. Every instance metadata request times out after a second, so that off EC2 the
//!    search fails fast, with a message listing every place it looked.
//!
//! Steps 1–3 are local and looked up again for every request, so rotated keys in the shared
//! files are picked up without a restart. The credentials of `credential_process` and of
//! steps 4–6 are temporary: they are
//! kept until five minutes before their `Expiration` (half their life when that is shorter;
//! 15 minutes when there is none), then fetched again (the command run again, the web
//! identity token file read again). When a refresh fails while
//! the old credentials are still valid, those go on signing and the source is asked again
//! every 10 seconds; when there are no valid ones, the data is held back: a lookup that fails
//! is retried, never a drop.
//!
//! The region: `region`, else `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's
//! `region` in the shared config file.
//!
//! With `role_arn`, the credentials found are used only to call STS `AssumeRole`
//! (`https://sts.REGION.amazonaws.com/`, or `AWS_ENDPOINT_URL_STS`); requests are signed with
//! the role's temporary credentials (asked for 15 minutes), kept and renewed like those of steps
//! 4–6: until five minutes before the `Expiration` STS gives them (half their life when that is
//! shorter), through a failing renewal while they are still valid.
//!
//! [`check`] (at start) finds the source; it does not run a `credential_process`, and of steps
//! 4 and 5 it checks only what is local (the token file readable, the URI allowed), so that a
//! failing command, or an STS or agent briefly down, holds data back rather than stopping
//! walship; step 6 it asks, since only the metadata service can tell whether walship runs on
//! EC2 with a role.
//!
//! Chains inside a profile — `role_arn` with `source_profile` (keys, `credential_process` or
//! another chain), `credential_source` (`Environment`, `Ec2InstanceMetadata`, `EcsContainer`)
//! or `web_identity_token_file`, with `role_session_name`, `external_id`, `duration_seconds` —
//! are followed only when `AWS_SDK_LOAD_CONFIG` is true, as the Go SDK (v1) that Prometheus
//! uses does; without it they are ignored there, and a named profile holding only them is an
//! error saying so. Each role is assumed in turn and kept like the temporary credentials above.
//! walship reads the shared config file's keys, `credential_process` and `region` also without
//! `AWS_SDK_LOAD_CONFIG` (the Go SDK then reads only the credentials file).
//!
//! Not supported: SSO, `mfa_serial` (a one-time code nobody is there to type), and IMDSv1 (an
//! instance that allows only v1 answers no credentials).

mod credentials;
mod files;
mod metadata;
mod process;
mod profile;
mod refresh;
mod sign;
#[cfg(test)]
mod source_tests;
mod sts;

use crate::config::SigV4Config;
use crate::{Error, Result};
pub(crate) use credentials::Credentials;
use credentials::{Env, ProcessEnv};
use files::{config_section, read_section, shared_file};
use metadata::{Container, ContainerAuth, Instance, MetadataClient};
use process::Process;
use sign::sign_request;
use std::time::{Duration, SystemTime};
use sts::{AssumeRole, Role, StsClient, WebIdentity};

/// Checks now that `cfg` can sign: a region and credentials are found (see the module
/// documentation for what is asked of sources that hand out temporary credentials). For
/// configuration checks at start (Prometheus refuses to start without them too); the error
/// says what is missing and where it was looked for.
pub fn check(cfg: &SigV4Config) -> Result<()> {
    check_with(cfg, &ProcessEnv).map_err(Error::Config)
}

fn check_with(cfg: &SigV4Config, env: &dyn Env) -> std::result::Result<(), String> {
    region(cfg, env)?;
    check_found(find(cfg, env)?, cfg, env)
}

fn check_found(found: Found, cfg: &SigV4Config, env: &dyn Env) -> std::result::Result<(), String> {
    match found {
        Found::Chain { base, .. } => check_found(*base, cfg, env),
        Found::Ready(_) => Ok(()),
        Found::Remote(Remote::WebIdentity(w)) => w.token().map(drop),
        Found::Remote(Remote::Container(c)) => c.authorization().map(drop),
        Found::Remote(Remote::Process(_)) => Ok(()),
        Found::Remote(r @ Remote::Instance { .. }) => {
            r.fetch(cfg, "", env, &Clients::new(Duration::from_secs(1))).map(drop)
        }
    }
}

fn profile_name(cfg: &SigV4Config, env: &dyn Env) -> String {
    if !cfg.profile.is_empty() {
        return cfg.profile.clone();
    }
    env.var("AWS_PROFILE").unwrap_or_else(|| "default".into())
}

/// The region to sign for.
pub(crate) fn region(cfg: &SigV4Config, env: &dyn Env) -> std::result::Result<String, String> {
    if !cfg.region.is_empty() {
        return Ok(cfg.region.clone());
    }
    if let Some(r) = env.var("AWS_REGION").or_else(|| env.var("AWS_DEFAULT_REGION")) {
        return Ok(r);
    }
    let profile = profile_name(cfg, env);
    if let Some(path) = shared_file(env, "AWS_CONFIG_FILE", "config") {
        if let Some(section) = read_section(&path, &config_section(&profile))? {
            if let Some(r) = section.get("region").filter(|r| !r.is_empty()) {
                return Ok(r.clone());
            }
        }
    }
    Err(format!(
        "sigv4: no region: set region, AWS_REGION or the region of profile {profile:?} in the shared config file"
    ))
}

/// What the chain found: credentials to sign with, or a source of temporary ones to ask.
#[derive(Debug)]
enum Found {
    Ready(Credentials),
    Remote(Remote),
    /// Roles of shared-config profiles, assumed in this order with what `base` gives.
    Chain {
        /// Never a `Chain` itself.
        base: Box<Found>,
        roles: Vec<AssumeRole>,
    },
}

/// A source of temporary credentials (steps 4–6 of the module documentation).
#[derive(Debug, Clone, PartialEq)]
enum Remote {
    /// A profile's `credential_process`.
    Process(Process),
    WebIdentity(WebIdentity),
    Container(Container),
    /// `looked`: where the chain looked before, for the message when this fails too.
    Instance {
        instance: Instance,
        looked: String,
    },
}

impl Remote {
    /// The source, for the cache and messages.
    fn describe(&self) -> String {
        match self {
            Remote::Process(p) => p.describe(),
            Remote::WebIdentity(w) => format!("web identity {} {}", w.role_arn, w.token_file.display()),
            Remote::Container(c) => format!("container {}", c.url),
            Remote::Instance { instance, .. } => format!("instance {}", instance.endpoint),
        }
    }

    /// Asks the source for credentials; `region` is where STS is called (web identity).
    fn fetch(
        &self,
        cfg: &SigV4Config,
        region: &str,
        env: &dyn Env,
        clients: &Clients,
    ) -> std::result::Result<credentials::Temporary, String> {
        match self {
            Remote::Process(p) => p.fetch(),
            Remote::WebIdentity(w) => w.fetch(&clients.sts, &sts::endpoint(cfg, region, env)),
            Remote::Container(c) => c.fetch(&clients.metadata),
            Remote::Instance { instance, looked } => instance
                .fetch(&clients.metadata)
                .map_err(|e| format!("sigv4: no AWS credentials: {looked}; and {}", e.trim_start_matches("sigv4: "))),
        }
    }
}

/// The HTTP clients of the remote sources.
struct Clients {
    sts: StsClient,
    metadata: MetadataClient,
}

impl Clients {
    fn new(sts_timeout: Duration) -> Clients {
        Clients { sts: StsClient::new(sts_timeout), metadata: MetadataClient::default() }
    }
}

/// The credentials to sign with, or the source to ask for them, found in the order of the
/// module documentation. Local: no source is asked here.
fn find(cfg: &SigV4Config, env: &dyn Env) -> std::result::Result<Found, String> {
    let ready = |c| Ok(Found::Ready(c));
    if !cfg.access_key.is_empty() {
        return ready(Credentials {
            access_key: cfg.access_key.clone(),
            secret_key: cfg.secret_key.expose().to_string(),
            session_token: None,
            source: "the configuration".into(),
        });
    }
    if cfg.profile.is_empty() {
        if let Some(c) = env_keys(env) {
            return ready(c);
        }
    }
    let profile = profile_name(cfg, env);
    if profile::load_config(env) {
        if let Some(chain) = profile::chain(env, &profile)? {
            return from_chain(chain, env);
        }
    }
    let mut looked = Vec::new();
    let mut sections = Vec::new();
    for (var, name, section) in [
        ("AWS_SHARED_CREDENTIALS_FILE", "credentials", profile.clone()),
        ("AWS_CONFIG_FILE", "config", config_section(&profile)),
    ] {
        let Some(path) = shared_file(env, var, name) else { continue };
        looked.push(path.display().to_string());
        if let Some(s) = read_section(&path, &section)? {
            sections.push((path, s));
        }
    }
    // Keys first, in either file; then a command that prints them (the SDKs' order).
    for (path, s) in &sections {
        let get = |k: &str| s.get(k).filter(|v| !v.is_empty()).cloned();
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(access_key), Some(secret_key)) => {
                return ready(Credentials {
                    access_key,
                    secret_key,
                    session_token: get("aws_session_token"),
                    source: format!("profile {profile:?} of {}", path.display()),
                })
            }
            (None, None) => {}
            _ => {
                return Err(format!(
                    "sigv4: profile {profile:?} of {} has only one of aws_access_key_id and aws_secret_access_key",
                    path.display()
                ))
            }
        }
    }
    for (path, s) in &sections {
        if let Some(command) = s.get("credential_process").filter(|c| !c.trim().is_empty()) {
            return Ok(Found::Remote(Remote::Process(Process {
                command: command.clone(),
                profile: profile.clone(),
                file: path.clone(),
            })));
        }
    }
    let looked = format!(
        "not in the configuration, {}nor in profile {profile:?} of {}",
        if cfg.profile.is_empty() { "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), " } else { "" },
        if looked.is_empty() { "the shared files (no home directory)".into() } else { looked.join(" or ") }
    );
    if !cfg.profile.is_empty() || env.var("AWS_PROFILE").is_some() {
        let hint = if sections.iter().any(|(_, s)| profile::CHAIN_KEYS.iter().any(|k| s.contains_key(*k))) {
            format!(
                "; its {} are read only with AWS_SDK_LOAD_CONFIG=1, as by the Go SDK",
                profile::CHAIN_KEYS.join(", ")
            )
        } else {
            String::new()
        };
        return Err(format!("sigv4: no AWS credentials: {looked} (a named profile is not looked for elsewhere){hint}"));
    }
    if let Some(token_file) = env.var("AWS_WEB_IDENTITY_TOKEN_FILE") {
        let Some(role_arn) = env.var("AWS_ROLE_ARN") else {
            return Err(
                "sigv4: AWS_WEB_IDENTITY_TOKEN_FILE is set, but not AWS_ROLE_ARN, the role to assume with it".into()
            );
        };
        let session_name = env.var("AWS_ROLE_SESSION_NAME");
        return Ok(Found::Remote(Remote::WebIdentity(WebIdentity {
            token_file: token_file.into(),
            role_arn,
            session_name,
        })));
    }
    if let Some(container) = container_source(env)? {
        return Ok(Found::Remote(container));
    }
    let looked = format!(
        "{looked}, nor from web identity (AWS_WEB_IDENTITY_TOKEN_FILE), nor the container's \
         (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, AWS_CONTAINER_CREDENTIALS_FULL_URI)"
    );
    instance_source(env, looked).map(Found::Remote)
}

/// What a profile's chain starts from, and the roles it then assumes.
fn from_chain(chain: profile::Chain, env: &dyn Env) -> std::result::Result<Found, String> {
    use profile::Base;
    let base = match chain.base {
        Base::Keys(k) => Found::Ready(k),
        Base::WebIdentity(w) => Found::Remote(Remote::WebIdentity(w)),
        Base::Process(p) => Found::Remote(Remote::Process(p)),
        Base::Environment { profile } => Found::Ready(env_keys(env).ok_or_else(|| {
            format!(
                "sigv4: profile {profile:?}: credential_source Environment, but AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY are not set"
            )
        })?),
        Base::EcsContainer { profile } => Found::Remote(container_source(env)?.ok_or_else(|| {
            format!(
                "sigv4: profile {profile:?}: credential_source EcsContainer, but neither \
                 AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set"
            )
        })?),
        Base::Ec2InstanceMetadata { profile } => Found::Remote(instance_source(
            env,
            format!("profile {profile:?} names credential_source Ec2InstanceMetadata"),
        )?),
    };
    if chain.roles.is_empty() {
        return Ok(base);
    }
    Ok(Found::Chain { base: Box::new(base), roles: chain.roles })
}

/// Keys in the environment.
fn env_keys(env: &dyn Env) -> Option<Credentials> {
    let id = env.var("AWS_ACCESS_KEY_ID").or_else(|| env.var("AWS_ACCESS_KEY"));
    let secret = env.var("AWS_SECRET_ACCESS_KEY").or_else(|| env.var("AWS_SECRET_KEY"));
    let (Some(access_key), Some(secret_key)) = (id, secret) else { return None };
    Some(Credentials {
        access_key,
        secret_key,
        session_token: env.var("AWS_SESSION_TOKEN"),
        source: "the environment".into(),
    })
}

/// The container's credentials endpoint, when the environment names one.
fn container_source(env: &dyn Env) -> std::result::Result<Option<Remote>, String> {
    let container =
        match (env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
            (Some(r), _) => Some(format!("{}/{}", metadata::ECS_HOST, r.trim_start_matches('/'))),
            (None, Some(f)) => {
                Container::check_full_uri(&f)?;
                Some(f)
            }
            (None, None) => None,
        };
    if let Some(url) = container {
        let auth =
            match (env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"), env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
                (Some(f), _) => Some(ContainerAuth::File(f.into())),
                (None, Some(v)) => Some(ContainerAuth::Value(v)),
                (None, None) => None,
            };
        return Ok(Some(Remote::Container(Container { url, auth })));
    }
    Ok(None)
}

/// The instance metadata service, unless disabled; `looked`: where the chain looked before.
fn instance_source(env: &dyn Env, looked: String) -> std::result::Result<Remote, String> {
    if env.var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(format!(
            "sigv4: no AWS credentials: {looked}; the EC2 instance metadata is disabled (AWS_EC2_METADATA_DISABLED)"
        ));
    }
    let endpoint = env.var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| {
        let v6 = env.var("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").is_some_and(|m| m.eq_ignore_ascii_case("ipv6"));
        if v6 { metadata::IMDS_ENDPOINT_V6 } else { metadata::IMDS_ENDPOINT }.to_string()
    });
    Ok(Remote::Instance { instance: Instance { endpoint }, looked })
}

/// Signs requests of one endpoint.
pub(crate) struct Signer {
    cfg: SigV4Config,
    /// `role_arn`: the role's temporary credentials, from STS.
    role: Option<Role>,
    /// The last temporary credentials of a remote source (web identity, container, instance).
    remote: refresh::Cache,
    /// The roles of a chain of shared-config profiles, by their place in it.
    profile_roles: std::sync::Mutex<Vec<std::sync::Arc<Role>>>,
    timeout: Duration,
    clients: Clients,
}

impl Signer {
    /// `timeout` bounds one STS request (the endpoint's `remote_timeout`).
    pub(crate) fn new(cfg: &SigV4Config, timeout: Duration) -> Signer {
        let role = (!cfg.role_arn.is_empty()).then(|| Role::new(timeout));
        Signer {
            cfg: cfg.clone(),
            role,
            remote: refresh::Cache::default(),
            profile_roles: std::sync::Mutex::new(Vec::new()),
            timeout,
            clients: Clients::new(timeout),
        }
    }

    /// The headers to add to a `POST` of `body` to `url` that already carries `headers` (all of
    /// which are signed): `Authorization`, `X-Amz-Date` and, with temporary credentials,
    /// `X-Amz-Security-Token`. An error is a local fault (no region or credentials now).
    pub(crate) fn sign(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: SystemTime,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        self.sign_with(url, headers, body, now, &ProcessEnv)
    }

    fn sign_with(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        now: SystemTime,
        env: &dyn Env,
    ) -> std::result::Result<Vec<(String, String)>, String> {
        let region = region(&self.cfg, env)?;
        let mut creds = self.credentials(&region, now, env)?;
        if let Some(role) = &self.role {
            creds = role.credentials(&AssumeRole::configured(&self.cfg), &self.cfg, &region, &creds, now, env)?;
        }
        sign_request(&creds, &region, &self.cfg.service, url, headers, body, now)
    }

    /// The chain's credentials at `now`: found locally, or the remote source's, cached.
    fn credentials(&self, region: &str, now: SystemTime, env: &dyn Env) -> std::result::Result<Credentials, String> {
        self.resolve(find(&self.cfg, env)?, region, now, env)
    }

    fn resolve(
        &self,
        found: Found,
        region: &str,
        now: SystemTime,
        env: &dyn Env,
    ) -> std::result::Result<Credentials, String> {
        match found {
            Found::Ready(c) => Ok(c),
            Found::Remote(r) => self.remote.get(&r.describe(), now, || r.fetch(&self.cfg, region, env, &self.clients)),
            Found::Chain { base, roles } => {
                let mut creds = self.resolve(*base, region, now, env)?;
                for (i, role) in roles.iter().enumerate() {
                    let r = {
                        let mut all = crate::lock::lock(&self.profile_roles);
                        while all.len() <= i {
                            all.push(std::sync::Arc::new(Role::new(self.timeout)));
                        }
                        all[i].clone()
                    };
                    creds = r.credentials(role, &self.cfg, region, &creds, now, env)?;
                }
                Ok(creds)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sts::xml_text;
    use super::*;
    use crate::config::Secret;
    use std::collections::HashMap;

    pub(super) struct FakeEnv(HashMap<&'static str, String>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned().filter(|v| !v.is_empty())
        }
    }

    pub(super) fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    /// The local credentials `find` gives, or an error (also for a remote source, named).
    fn credentials(cfg: &SigV4Config, env: &dyn Env) -> std::result::Result<Credentials, String> {
        match find(cfg, env)? {
            Found::Ready(c) => Ok(c),
            Found::Remote(r) => Err(format!("remote: {}", r.describe())),
            Found::Chain { base, roles } => Err(format!(
                "chain: {:?} then {}",
                base,
                roles.iter().map(|r| r.role_arn.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    #[test]
    fn configured_keys_come_first() {
        let cfg = SigV4Config {
            region: "eu-west-1".into(),
            access_key: "AKIDCONF".into(),
            secret_key: Secret::new("s"),
            ..Default::default()
        };
        let e = env(&[("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "x"), ("AWS_REGION", "us-east-2")]);
        assert_eq!(credentials(&cfg, &e).map(|c| c.access_key), Ok("AKIDCONF".to_string()));
        assert_eq!(region(&cfg, &e), Ok("eu-west-1".to_string()));
    }

    #[test]
    fn environment_then_shared_files() {
        let dir = std::env::temp_dir().join(format!("walship-sigv4-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let creds = dir.join("credentials");
        let config = dir.join("config");
        std::fs::write(
            &creds,
            "# comment\n[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = sdef\n\n[ops]\nAWS_ACCESS_KEY_ID=AKIDOPS\naws_secret_access_key=sops\naws_session_token = tok\n",
        )
        .unwrap();
        std::fs::write(&config, "[default]\nregion = us-west-2\n[profile  ops]\nregion = ap-south-1\n[profile cfgonly]\naws_access_key_id = AKIDCFG\naws_secret_access_key = scfg\n").unwrap();
        let files =
            [("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()), ("AWS_CONFIG_FILE", config.to_str().unwrap())];
        let cfg = SigV4Config::default();

        let mut with_env = files.to_vec();
        with_env.extend([
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "senv"),
            ("AWS_SESSION_TOKEN", "t"),
        ]);
        let c = credentials(&cfg, &env(&with_env)).unwrap();
        assert_eq!((c.access_key.as_str(), c.session_token.as_deref()), ("AKIDENV", Some("t")));

        let c = credentials(&cfg, &env(&files)).unwrap();
        assert_eq!((c.access_key.as_str(), c.session_token), ("AKIDDEF", None));
        assert_eq!(region(&cfg, &env(&files)), Ok("us-west-2".to_string()));

        // A configured profile wins over the environment's keys.
        let ops = SigV4Config { profile: "ops".into(), ..Default::default() };
        let c = credentials(&ops, &env(&with_env)).unwrap();
        assert_eq!((c.access_key.as_str(), c.session_token.as_deref()), ("AKIDOPS", Some("tok")));
        assert_eq!(region(&ops, &env(&files)), Ok("ap-south-1".to_string()));

        let mut by_var = files.to_vec();
        by_var.push(("AWS_PROFILE", "cfgonly"));
        assert_eq!(credentials(&cfg, &env(&by_var)).map(|c| c.access_key), Ok("AKIDCFG".to_string()));
        assert!(region(&cfg, &env(&by_var)).is_err(), "profile cfgonly has no region");

        let missing = SigV4Config { profile: "nope".into(), ..Default::default() };
        let err = credentials(&missing, &env(&files)).unwrap_err();
        assert!(err.contains("\"nope\"") && err.contains("credentials"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sts_answers() {
        let ok = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
                  <Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>a/b+c</SecretAccessKey>\
                  <SessionToken>t&amp;k</SessionToken><Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>\
                  </AssumeRoleResult></AssumeRoleResponse>";
        assert_eq!(xml_text(ok, "SecretAccessKey").as_deref(), Some("a/b+c"));
        assert_eq!(xml_text(ok, "SessionToken").as_deref(), Some("t&k"));
        assert_eq!(xml_text(ok, "Nope"), None);
        let cfg = SigV4Config { role_arn: "arn:aws:iam::1:role/r".into(), ..Default::default() };
        assert_eq!(sts::endpoint(&cfg, "eu-west-1", &env(&[])), "https://sts.eu-west-1.amazonaws.com/");
        let fips = SigV4Config { use_fips_sts_endpoint: true, ..cfg.clone() };
        assert_eq!(sts::endpoint(&fips, "us-east-1", &env(&[])), "https://sts-fips.us-east-1.amazonaws.com/");
        assert_eq!(
            sts::endpoint(&cfg, "x", &env(&[("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1/")])),
            "http://127.0.0.1:1/"
        );
    }

    #[test]
    fn nothing_found_says_where_it_looked() {
        let e = env(&[("HOME", "/nonexistent-home"), ("AWS_EC2_METADATA_DISABLED", "TRUE")]);
        let err = credentials(&SigV4Config::default(), &e).unwrap_err();
        for place in [
            "AWS_ACCESS_KEY_ID",
            "/nonexistent-home/.aws/credentials",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "instance metadata is disabled",
        ] {
            assert!(err.contains(place), "{place}: {err}");
        }
        assert!(region(&SigV4Config::default(), &env(&[])).is_err());
        // Without AWS_EC2_METADATA_DISABLED, the instance metadata service is what is left.
        let e = env(&[("HOME", "/nonexistent-home")]);
        assert_eq!(credentials(&SigV4Config::default(), &e), Err("remote: instance http://169.254.169.254".into()));
        let e = env(&[("HOME", "/nonexistent-home"), ("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "IPv6")]);
        assert_eq!(credentials(&SigV4Config::default(), &e), Err("remote: instance http://[fd00:ec2::254]".into()));
    }

    /// The order of the sources after the shared files; no source is asked by `find`.
    #[test]
    fn web_identity_then_container_then_instance() {
        let all = [
            ("HOME", "/nonexistent-home"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            ("AWS_ROLE_ARN", "arn:aws:iam::1:role/web"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"),
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:9/creds"),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"),
        ];
        let cfg = SigV4Config::default();
        let found = |pairs: &[(&'static str, &str)]| credentials(&cfg, &env(pairs));
        assert_eq!(found(&all), Err("remote: web identity arn:aws:iam::1:role/web /var/run/token".into()));
        // The relative URI wins over the full one, and goes to the ECS agent.
        assert_eq!(found(&all[3..]), Err("remote: container http://169.254.170.2/v2/credentials/abc".into()));
        assert_eq!(found(&all[4..]), Err("remote: container http://127.0.0.1:9/creds".into()));
        assert_eq!(found(&all[5..]), Err("remote: instance http://127.0.0.1:9".into()));
        // Keys in the environment come first; a named profile is never looked for elsewhere.
        let mut keys = all.to_vec();
        keys.extend([("AWS_ACCESS_KEY_ID", "AKIDENV"), ("AWS_SECRET_ACCESS_KEY", "s")]);
        assert_eq!(found(&keys).map(|c| c.access_key), Ok("AKIDENV".into()));
        let mut named = all.to_vec();
        named.push(("AWS_PROFILE", "ops"));
        let err = found(&named).unwrap_err();
        assert!(err.contains("named profile") && err.contains("\"ops\""), "{err}");
        // A token file without the role to assume with it.
        let err = found(&[all[0], all[1]]).unwrap_err();
        assert!(err.contains("AWS_ROLE_ARN"), "{err}");
    }

    #[test]
    fn container_full_uri_only_to_allowed_hosts() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://localhost/creds",
            "http://[::1]:1/x",
            "http://169.254.170.2/v2/credentials",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "https://creds.example/x",
        ] {
            assert_eq!(Container::check_full_uri(ok), Ok(()), "{ok}");
        }
        for bad in ["http://10.0.0.1/creds", "http://creds.example/x", "ftp://127.0.0.1/x", "not a url"] {
            let err = Container::check_full_uri(bad).unwrap_err();
            assert!(err.contains("AWS_CONTAINER_CREDENTIALS_FULL_URI"), "{err}");
            let e = env(&[("HOME", "/nonexistent-home"), ("AWS_CONTAINER_CREDENTIALS_FULL_URI", bad)]);
            assert!(credentials(&SigV4Config::default(), &e).unwrap_err().contains(bad), "{bad}");
        }
    }

    /// The example of AWS's SigV4 documentation (a GET to IAM), reproduced with the signer as
    /// this module drives it: the wiring (region, service, time, credentials) is right.
    #[test]
    fn signs_the_documented_example() {
        let cfg = SigV4Config {
            region: "us-east-1".into(),
            access_key: "AKIDEXAMPLE".into(),
            secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            service: "service".into(),
            ..Default::default()
        };
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
        let headers = Signer::new(&cfg, Duration::from_secs(1))
            .sign_with("https://example.amazonaws.com/", &[], b"", now, &env(&[]))
            .unwrap();
        let get = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.as_str());
        assert_eq!(get("x-amz-date"), Some("20150830T123600Z"));
        // From the AWS test suite's `post-vanilla` case, which signs host and x-amz-date only.
        let auth = get("authorization").unwrap();
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }
}
