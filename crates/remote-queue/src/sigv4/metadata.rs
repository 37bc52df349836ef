//! Credentials from metadata endpoints: the container's (ECS task roles, EKS Pod Identity) and
//! the EC2 instance's (IMDSv2, instance roles).

use super::credentials::{parse_time, Credentials, Temporary};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Where the ECS agent serves `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
pub(super) const ECS_HOST: &str = "http://169.254.170.2";
/// The instance metadata service, and its IPv6 address (`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`).
pub(super) const IMDS_ENDPOINT: &str = "http://169.254.169.254";
pub(super) const IMDS_ENDPOINT_V6: &str = "http://[fd00:ec2::254]";

/// Connecting to a metadata endpoint, and one instance metadata request, may take this long:
/// off EC2 the chain must fail fast.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// One container credentials request (the agent is local, but may be busy).
const CONTAINER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an instance metadata session token is asked for (the SDKs' default).
const IMDS_TOKEN_TTL: &str = "21600";

/// The HTTP client for metadata endpoints: short timeouts, no redirects, no proxy.
#[derive(Default)]
pub(super) struct MetadataClient {
    agent: OnceLock<ureq::Agent>,
}

impl MetadataClient {
    fn agent(&self) -> Result<&ureq::Agent, String> {
        if let Some(a) = self.agent.get() {
            return Ok(a);
        }
        let tls = crate::tls::client_config(&crate::config::TlsConfig::default())
            .map_err(|e| format!("sigv4: cannot build the metadata client: {e}"))?;
        Ok(self.agent.get_or_init(|| {
            ureq::AgentBuilder::new().timeout_connect(CONNECT_TIMEOUT).redirects(0).tls_config(tls).build()
        }))
    }
}

/// The `Authorization` header of container credentials requests.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum ContainerAuth {
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read for every request (EKS Pod Identity rotates it).
    File(PathBuf),
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    Value(String),
}

/// The container credentials endpoint.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Container {
    pub(super) url: String,
    pub(super) auth: Option<ContainerAuth>,
}

impl Container {
    /// The endpoint named by `AWS_CONTAINER_CREDENTIALS_FULL_URI`, which may only be `https`, or
    /// `http` to this machine or to the ECS and EKS agents' link-local addresses, as the SDKs
    /// allow: credentials are not asked for, with a token, from just any host.
    pub(super) fn check_full_uri(uri: &str) -> Result<(), String> {
        let what = format!("sigv4: AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?}");
        let u = url::Url::parse(uri).map_err(|e| format!("{what}: {e}"))?;
        let allowed = match (u.scheme(), u.host()) {
            ("https", Some(_)) => true,
            ("http", Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case("localhost"),
            ("http", Some(url::Host::Ipv4(a))) => {
                a.is_loopback() || a.octets() == [169, 254, 170, 2] || a.octets() == [169, 254, 170, 23]
            }
            ("http", Some(url::Host::Ipv6(a))) => {
                a.is_loopback() || a.segments() == [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23]
            }
            _ => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(format!(
                "{what}: must be https, or http to a loopback address, 169.254.170.2, 169.254.170.23 or fd00:ec2::23"
            ))
        }
    }

    /// The `Authorization` header, if any; the token file must be readable.
    pub(super) fn authorization(&self) -> Result<Option<String>, String> {
        match &self.auth {
            None => Ok(None),
            Some(ContainerAuth::Value(v)) => Ok(Some(v.clone())),
            Some(ContainerAuth::File(p)) => std::fs::read_to_string(p)
                .map(|t| Some(t.trim().to_string()))
                .map_err(|e| format!("sigv4: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {}: {e}", p.display())),
        }
    }

    pub(super) fn fetch(&self, client: &MetadataClient) -> Result<Temporary, String> {
        let what = format!("sigv4: container credentials from {}", self.url);
        let mut req = client.agent()?.get(&self.url).timeout(CONTAINER_TIMEOUT).set("Accept", "application/json");
        if let Some(a) = self.authorization()? {
            req = req.set("Authorization", &a);
        }
        let text = read(req.call(), &what)?;
        parse_json(&text, format!("the container role at {}", self.url), &what)
    }
}

/// The instance metadata service (IMDSv2).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Instance {
    pub(super) endpoint: String,
}

impl Instance {
    /// A session token, the instance's role, then its credentials.
    pub(super) fn fetch(&self, client: &MetadataClient) -> Result<Temporary, String> {
        let base = self.endpoint.trim_end_matches('/');
        let agent = client.agent()?;
        let what = format!("sigv4: EC2 instance metadata at {base}");
        let token = read(
            agent
                .put(&format!("{base}/latest/api/token"))
                .timeout(IMDS_TIMEOUT)
                .set("X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL)
                .send_bytes(&[]),
            &format!("{what}: session token"),
        )?;
        let token = token.trim();
        let roles_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let get = |url: &str, step: &str| {
            read(
                agent.get(url).timeout(IMDS_TIMEOUT).set("X-aws-ec2-metadata-token", token).call(),
                &format!("{what}: {step}"),
            )
        };
        let roles = get(&roles_url, "the instance's role (has the instance an IAM role?)")?;
        let Some(role) = roles.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(format!("{what}: the instance has no IAM role"));
        };
        let text = get(&format!("{roles_url}{role}"), &format!("credentials of role {role}"))?;
        parse_json(&text, format!("the EC2 instance role {role}"), &format!("{what}: role {role}"))
    }
}

/// A successful answer's body, or an error starting with `what`.
fn read(answer: Result<ureq::Response, ureq::Error>, what: &str) -> Result<String, String> {
    match answer {
        Ok(r) => r.into_string().map_err(|e| format!("{what}: reading the answer: {e}")),
        Err(ureq::Error::Status(status, r)) => {
            let text: String = r.into_string().unwrap_or_default().chars().take(200).collect();
            Err(format!("{what}: HTTP {status} {}", text.trim()))
        }
        Err(e) => Err(format!("{what}: {e}")),
    }
}

/// The JSON both endpoints answer with: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`
/// (and, from the instance, `Code`, which must be `Success`).
fn parse_json(text: &str, source: String, what: &str) -> Result<Temporary, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("{what}: the answer is not JSON: {e}"))?;
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|x| !x.is_empty()).map(str::to_string);
    if let Some(code) = get("Code").filter(|c| c != "Success") {
        return Err(format!("{what}: Code {code}: {}", get("Message").unwrap_or_default()));
    }
    let expires = match get("Expiration") {
        None => None,
        Some(e) => Some(parse_time(&e).ok_or_else(|| format!("{what}: Expiration {e:?} is not a time"))?),
    };
    match (get("AccessKeyId"), get("SecretAccessKey")) {
        (Some(access_key), Some(secret_key)) => Ok(Temporary {
            creds: Credentials { access_key, secret_key, session_token: get("Token"), source },
            expires,
        }),
        _ => Err(format!("{what}: the answer holds no AccessKeyId and SecretAccessKey")),
    }
}
