//! Chains inside a shared-config profile: `role_arn` assumed with the credentials of a
//! `source_profile`, of a `credential_source` (`Environment`, `Ec2InstanceMetadata`,
//! `EcsContainer`), or a `web_identity_token_file`.
//!
//! The Go SDK (v1) that Prometheus uses reads these keys only when `AWS_SDK_LOAD_CONFIG` is
//! true (it then reads the shared config file too, the credentials file's values winning);
//! without it, it reads only the shared credentials file, and of a profile only its keys and
//! `credential_process`. walship does the same for these keys, so that it signs as the
//! identity Prometheus would.

use super::credentials::{Credentials, Env};
use super::files::{config_section, read_section, shared_file};
use super::process::Process;
use super::sts::{AssumeRole, WebIdentity, ROLE_DURATION};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

/// A profile's `key = value` pairs.
type Section = HashMap<String, String>;

/// The keys of a profile that make a chain.
pub(super) const CHAIN_KEYS: [&str; 4] = ["role_arn", "source_profile", "credential_source", "web_identity_token_file"];

/// A profile's chain: where its first credentials come from, then the roles assumed in turn.
#[derive(Debug)]
pub(super) struct Chain {
    pub(super) base: Base,
    pub(super) roles: Vec<AssumeRole>,
}

/// Where the first credentials of a chain come from.
#[derive(Debug)]
pub(super) enum Base {
    /// Keys of a profile.
    Keys(Credentials),
    /// `credential_source`: the environment's keys, the container's or the instance's role;
    /// `profile` names where it is configured, for messages.
    Environment {
        profile: String,
    },
    EcsContainer {
        profile: String,
    },
    Ec2InstanceMetadata {
        profile: String,
    },
    WebIdentity(WebIdentity),
    Process(Process),
}

/// Whether `AWS_SDK_LOAD_CONFIG` is true (as Go's `strconv.ParseBool` reads it).
pub(super) fn load_config(env: &dyn Env) -> bool {
    env.var("AWS_SDK_LOAD_CONFIG").is_some_and(|v| matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
}

/// The chain of profile `name`; `Ok(None)` when it has none (no profile, or no key of
/// [`CHAIN_KEYS`]): its keys and `credential_process` are then looked up as usual.
pub(super) fn chain(env: &dyn Env, name: &str) -> Result<Option<Chain>, String> {
    let Some((section, file)) = profile_section(env, name)? else { return Ok(None) };
    if !CHAIN_KEYS.iter().any(|k| section.contains_key(*k)) {
        return Ok(None);
    }
    resolve(env, name, &section, &file, &mut vec![name.to_string()]).map(Some)
}

/// Profile `name` of the shared config file, overridden key by key by the credentials file's;
/// with the file that holds it (the credentials file when both do), for messages.
fn profile_section(env: &dyn Env, name: &str) -> Result<Option<(Section, PathBuf)>, String> {
    let mut merged: Option<(Section, PathBuf)> = None;
    for (var, file, section) in [
        ("AWS_CONFIG_FILE", "config", config_section(name)),
        ("AWS_SHARED_CREDENTIALS_FILE", "credentials", name.into()),
    ] {
        let Some(path) = shared_file(env, var, file) else { continue };
        if let Some(s) = read_section(&path, &section)? {
            let (map, at) = merged.get_or_insert_with(|| (HashMap::new(), path.clone()));
            map.extend(s);
            *at = path;
        }
    }
    Ok(merged)
}

/// What profile `name` (its merged `section`, from `file`) gives; `visited`: the profiles of
/// the chain so far, against loops.
fn resolve(
    env: &dyn Env,
    name: &str,
    section: &Section,
    file: &std::path::Path,
    visited: &mut Vec<String>,
) -> Result<Chain, String> {
    let get = |k: &str| section.get(k).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_string);
    let what = format!("sigv4: profile {name:?} of {}", file.display());
    let role_arn = get("role_arn");
    let needs_role = |key: &str| {
        if role_arn.is_none() {
            Err(format!("{what}: {key} without role_arn, the role to assume with it"))
        } else {
            Ok(())
        }
    };
    let keys = match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(access_key), Some(secret_key)) => Some(Credentials {
            access_key,
            secret_key,
            session_token: get("aws_session_token"),
            source: format!("profile {name:?} of {}", file.display()),
        }),
        _ => None,
    };
    let base = if let Some(source) = get("source_profile") {
        needs_role("source_profile")?;
        if source == name {
            // A profile that is its own source: its keys assume its role.
            let keys = keys.ok_or_else(|| format!("{what}: is its own source_profile, but holds no keys"))?;
            Chain { base: Base::Keys(keys), roles: Vec::new() }
        } else {
            if visited.contains(&source) {
                return Err(format!(
                    "{what}: source_profile {source:?} leads back to itself ({})",
                    visited.join(" → ")
                ));
            }
            visited.push(source.clone());
            let Some((s, f)) = profile_section(env, &source)? else {
                return Err(format!("{what}: its source_profile {source:?} is in no shared file"));
            };
            resolve(env, &source, &s, &f, visited)?
        }
    } else if let Some(k) = keys {
        Chain { base: Base::Keys(k), roles: Vec::new() }
    } else if let Some(source) = get("credential_source") {
        needs_role("credential_source")?;
        let profile = name.to_string();
        let base = match source.as_str() {
            "Environment" => Base::Environment { profile },
            "EcsContainer" => Base::EcsContainer { profile },
            "Ec2InstanceMetadata" => Base::Ec2InstanceMetadata { profile },
            other => {
                return Err(format!(
                    "{what}: credential_source {other:?} is not one of Environment, Ec2InstanceMetadata, EcsContainer"
                ))
            }
        };
        Chain { base, roles: Vec::new() }
    } else if let Some(token_file) = get("web_identity_token_file") {
        needs_role("web_identity_token_file")?;
        // The role is assumed with the token itself: nothing more to assume for this profile.
        let web = WebIdentity {
            token_file: token_file.into(),
            role_arn: role_arn.unwrap_or_default(),
            session_name: get("role_session_name"),
        };
        return Ok(Chain { base: Base::WebIdentity(web), roles: Vec::new() });
    } else if let Some(command) = get("credential_process") {
        let process = Process { command, profile: name.into(), file: file.to_path_buf() };
        Chain { base: Base::Process(process), roles: Vec::new() }
    } else {
        return Err(format!(
            "{what}: holds no credentials (keys, source_profile, credential_source, web_identity_token_file or \
             credential_process)"
        ));
    };
    let Some(role_arn) = role_arn else { return Ok(base) };
    let mut chain = base;
    if get("mfa_serial").is_some() {
        return Err(format!("{what}: mfa_serial asks for a one-time code, which walship cannot ask anyone for"));
    }
    // Like the Go SDK: a configured duration counts only above its default quarter of an hour.
    let duration = get("duration_seconds")
        .and_then(|d| d.parse::<u64>().ok())
        .map(Duration::from_secs)
        .filter(|d| *d > ROLE_DURATION)
        .unwrap_or(ROLE_DURATION);
    let role = AssumeRole {
        role_arn,
        session_name: get("role_session_name"),
        external_id: get("external_id"),
        duration,
        profile: Some(name.into()),
    };
    chain.roles.push(role);
    Ok(chain)
}
