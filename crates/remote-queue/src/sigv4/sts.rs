//! The two STS calls: `AssumeRole` for `role_arn` (signed with the chain's credentials) and
//! `AssumeRoleWithWebIdentity` for a web identity token (EKS IRSA; not signed: the token is
//! the proof).

use super::credentials::{parse_time, Credentials, Env, Temporary};
use super::refresh;
use super::sign::sign_request;
use crate::config::SigV4Config;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the role's credentials are asked for (the AWS SDKs' default for assumed roles).
pub(super) const ROLE_DURATION: Duration = Duration::from_secs(900);

/// The STS endpoint: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` (the SDKs' overrides), else
/// the region's (FIPS with `use_fips_sts_endpoint`).
pub(super) fn endpoint(cfg: &SigV4Config, region: &str, env: &dyn Env) -> String {
    if let Some(u) = env.var("AWS_ENDPOINT_URL_STS").or_else(|| env.var("AWS_ENDPOINT_URL")) {
        return u;
    }
    let host = if cfg.use_fips_sts_endpoint { "sts-fips" } else { "sts" };
    format!("https://{host}.{region}.amazonaws.com/")
}

/// An HTTP client for STS, built once: `timeout` bounds one call.
pub(super) struct StsClient {
    timeout: Duration,
    agent: OnceLock<ureq::Agent>,
}

impl StsClient {
    pub(super) fn new(timeout: Duration) -> StsClient {
        StsClient { timeout, agent: OnceLock::new() }
    }

    fn agent(&self) -> Result<&ureq::Agent, String> {
        if let Some(a) = self.agent.get() {
            return Ok(a);
        }
        let tls = crate::tls::client_config(&crate::config::TlsConfig::default())
            .map_err(|e| format!("sigv4: cannot build the STS client: {e}"))?;
        Ok(self
            .agent
            .get_or_init(|| ureq::AgentBuilder::new().timeout(self.timeout).redirects(0).tls_config(tls).build()))
    }

    /// POSTs the form `body` (with `extra` headers) to `url`; the answer's XML, or an error
    /// starting with `what` that carries STS's error code and message.
    fn call(&self, url: &str, extra: &[(String, String)], body: &str, what: &str) -> Result<String, String> {
        let mut req = self.agent()?.post(url).set("Content-Type", FORM);
        for (k, v) in extra {
            req = req.set(k, v);
        }
        match req.send_string(body) {
            Ok(r) => r.into_string().map_err(|e| format!("{what}: reading the answer: {e}")),
            Err(ureq::Error::Status(status, r)) => {
                let text = r.into_string().unwrap_or_default();
                let code = xml_text(&text, "Code").unwrap_or_default();
                let message = xml_text(&text, "Message").unwrap_or_default();
                Err(format!("{what}: HTTP {status} {code}: {message}"))
            }
            Err(e) => Err(format!("{what}: {e}")),
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The `<Credentials>` of an STS answer.
fn answer_credentials(xml: &str, source: String, what: &str) -> Result<Temporary, String> {
    let get = |tag: &str| xml_text(xml, tag).filter(|v| !v.is_empty());
    match (get("AccessKeyId"), get("SecretAccessKey"), get("SessionToken")) {
        (Some(access_key), Some(secret_key), Some(token)) => Ok(Temporary {
            creds: Credentials { access_key, secret_key, session_token: Some(token), source },
            expires: get("Expiration").and_then(|e| parse_time(&e)),
        }),
        _ => Err(format!("{what}: the answer holds no credentials")),
    }
}

fn session_name() -> String {
    format!("walship-{}", SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// A role to assume through STS `AssumeRole`: `role_arn` of the configuration, or of a
/// shared-config profile (with its `role_session_name`, `external_id`, `duration_seconds`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AssumeRole {
    pub(super) role_arn: String,
    pub(super) session_name: Option<String>,
    pub(super) external_id: Option<String>,
    pub(super) duration: Duration,
    /// The profile it is configured in, for messages; `None`: the configuration's `role_arn`.
    pub(super) profile: Option<String>,
}

impl AssumeRole {
    /// The configuration's `role_arn`.
    pub(super) fn configured(cfg: &SigV4Config) -> AssumeRole {
        AssumeRole {
            role_arn: cfg.role_arn.clone(),
            session_name: None,
            external_id: None,
            duration: ROLE_DURATION,
            profile: None,
        }
    }
}

/// The credentials of an assumed role, from STS `AssumeRole` called with the chain's
/// credentials, kept until shortly before the `Expiration` STS gives them, as the other
/// temporary credentials are (see [`refresh::Cache`]).
pub(super) struct Role {
    client: StsClient,
    cache: refresh::Cache,
}

impl Role {
    pub(super) fn new(timeout: Duration) -> Role {
        Role { client: StsClient::new(timeout), cache: refresh::Cache::default() }
    }

    /// The credentials of `role` at `now`, assumed with `base` when the cached ones are due.
    pub(super) fn credentials(
        &self,
        role: &AssumeRole,
        cfg: &SigV4Config,
        region: &str,
        base: &Credentials,
        now: SystemTime,
        env: &dyn Env,
    ) -> Result<Credentials, String> {
        // Keyed by the identity that assumes the role too: other keys, another session.
        let source = format!("role {} assumed by {}", role.role_arn, base.access_key);
        self.cache.get(&source, now, || self.assume(role, cfg, region, base, env))
    }

    fn assume(
        &self,
        role: &AssumeRole,
        cfg: &SigV4Config,
        region: &str,
        base: &Credentials,
        env: &dyn Env,
    ) -> Result<Temporary, String> {
        let url = endpoint(cfg, region, env);
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("Action", "AssumeRole").append_pair("DurationSeconds", &role.duration.as_secs().to_string());
        if let Some(id) = &role.external_id {
            form.append_pair("ExternalId", id);
        }
        let body = form
            .append_pair("RoleArn", &role.role_arn)
            .append_pair("RoleSessionName", role.session_name.as_deref().unwrap_or(&session_name()))
            .append_pair("Version", "2011-06-15")
            .finish();
        let headers = vec![("Content-Type".to_string(), FORM.to_string())];
        let signed = sign_request(base, region, "sts", &url, &headers, body.as_bytes(), SystemTime::now())?;
        let of = role.profile.as_ref().map(|p| format!(" (profile {p:?})")).unwrap_or_default();
        let what = format!("sigv4: assuming role {}{of} through STS at {url}", role.role_arn);
        let xml = self.client.call(&url, &signed, &body, &what)?;
        answer_credentials(&xml, format!("role {}{of}", role.role_arn), &what)
    }
}

/// Web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`): the
/// token file is read again for every call, as Kubernetes rotates it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct WebIdentity {
    pub(super) token_file: PathBuf,
    pub(super) role_arn: String,
    pub(super) session_name: Option<String>,
}

impl WebIdentity {
    /// The token, or an error naming the file.
    pub(super) fn token(&self) -> Result<String, String> {
        let t = std::fs::read_to_string(&self.token_file).map_err(|e| {
            format!(
                "sigv4: cannot read the web identity token file {} (AWS_WEB_IDENTITY_TOKEN_FILE): {e}",
                self.token_file.display()
            )
        })?;
        let t = t.trim();
        if t.is_empty() {
            return Err(format!("sigv4: the web identity token file {} is empty", self.token_file.display()));
        }
        Ok(t.to_string())
    }

    /// Calls STS `AssumeRoleWithWebIdentity` (not signed) at `url`.
    pub(super) fn fetch(&self, client: &StsClient, url: &str) -> Result<Temporary, String> {
        let token = self.token()?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "AssumeRoleWithWebIdentity")
            .append_pair("RoleArn", &self.role_arn)
            .append_pair("RoleSessionName", self.session_name.as_deref().unwrap_or(&session_name()))
            .append_pair("Version", "2011-06-15")
            .append_pair("WebIdentityToken", &token)
            .finish();
        let what = format!(
            "sigv4: assuming role {} with the web identity token of {} through STS at {url}",
            self.role_arn,
            self.token_file.display()
        );
        let xml = client.call(url, &[], &body, &what)?;
        answer_credentials(&xml, format!("web identity role {}", self.role_arn), &what)
    }
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded. STS answers are small and
/// flat; this reads the few fields needed without an XML parser.
pub(super) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    let raw = xml[start..start + len].trim();
    Some(
        raw.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}
