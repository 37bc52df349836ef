//! One SigV4 signature, computed by the `aws-sigv4` crate.

use super::credentials::Credentials;
use std::time::SystemTime;

/// Signs one `POST`; returns the headers to add.
pub(super) fn sign_request(
    creds: &Credentials,
    region: &str,
    service: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: SystemTime,
) -> std::result::Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity = aws_credential_types::Credentials::new(
        creds.access_key.clone(),
        creds.secret_key.clone(),
        creds.session_token.clone(),
        None,
        "walship",
    )
    .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("sigv4: {e}"))?
        .into();
    let request = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| format!("sigv4: cannot sign a request to this url: {e}"))?;
    let (instructions, _signature) =
        sign(request, &params).map_err(|e| format!("sigv4: signing failed: {e}"))?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}
