//! The OAuth2 refresh-token exchange behind an `identitytoken` credential, as skopeo
//! (containers/image `getBearerTokenOAuth2`) and docker do it: ask `/v2/` for the registry's
//! `Bearer` challenge, then POST `grant_type=refresh_token` with the challenge's `service`, the
//! repository `scope` and the refresh token (form-encoded) to the challenge's `realm`, and use the
//! `token` (or `access_token`) of the answer as a bearer token. oci-client only knows the
//! username/password flow, so this one request pair is made here with reqwest (the HTTP client
//! oci-client is built on). The access token is registered with the scrubber before it is used.

use std::time::Duration;

use oci_client::Reference;
use serde_json::Value;

use super::{auth_failure_reason, first_line, RegistryError};
use crate::scrub;

/// Why an exchange failed; turned into a [`RegistryError`] naming the reference.
#[derive(Debug)]
pub(super) enum OauthError {
    Unreachable(String),
    Refused(String),
    Protocol(String),
}

impl OauthError {
    pub(super) fn into_error(self, reference: &Reference) -> RegistryError {
        let registry = reference.registry().to_owned();
        match self {
            OauthError::Unreachable(reason) => RegistryError::Unreachable {
                registry,
                reason: scrub::scrub(&reason).into_owned(),
            },
            OauthError::Refused(reason) => RegistryError::Unauthorized {
                registry,
                reference: reference.whole(),
                detail: format!(
                    ": the token endpoint refused the identity token: {}",
                    scrub::scrub(&reason)
                ),
            },
            OauthError::Protocol(message) => RegistryError::Protocol {
                reference: reference.whole(),
                message: scrub::scrub(&message).into_owned(),
            },
        }
    }
}

/// Exchanges `refresh_token` for an access token to `reference`'s repository (pull and push:
/// token servers grant the subset the account has, per the distribution token spec).
pub(super) async fn exchange(
    host: &str,
    plain_http: bool,
    reference: &Reference,
    refresh_token: &str,
) -> Result<String, OauthError> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| OauthError::Unreachable(format!("cannot create an HTTP client: {e}")))?;
    let scheme = if plain_http { "http" } else { "https" };
    let ping = client
        .get(format!("{scheme}://{host}/v2/"))
        .send()
        .await
        .map_err(|e| OauthError::Unreachable(innermost(&e)))?;
    let challenge = ping
        .headers()
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(bearer_challenge)
        .ok_or_else(|| {
            OauthError::Protocol(
                "the registry offers no token endpoint (no Bearer challenge on /v2/), so an identitytoken cannot be used with it"
                    .to_owned(),
            )
        })?;
    let scope = format!("repository:{}:pull,push", reference.repository());
    let mut form = vec![("grant_type", "refresh_token")];
    if let Some(service) = &challenge.service {
        form.push(("service", service));
    }
    form.push(("scope", &scope));
    form.push(("refresh_token", refresh_token));
    form.push(("client_id", "gitops-toolkit"));
    let answer = client
        .post(&challenge.realm)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(form_encode(&form))
        .send()
        .await
        .map_err(|e| OauthError::Unreachable(innermost(&e)))?;
    let status = answer.status();
    let body = answer
        .text()
        .await
        .map_err(|e| OauthError::Unreachable(innermost(&e)))?;
    if !status.is_success() {
        return Err(OauthError::Refused(format!(
            "HTTP {}: {}",
            status.as_u16(),
            auth_failure_reason(&body)
        )));
    }
    let value: Value = serde_json::from_str(&body).map_err(|_| {
        OauthError::Protocol(format!(
            "the token endpoint answered something that is not JSON: {}",
            first_line(&body)
        ))
    })?;
    let token = ["token", "access_token"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            OauthError::Protocol("the token endpoint's answer has no token".to_owned())
        })?;
    scrub::register(token);
    if let Some(refresh) = value.get("refresh_token").and_then(Value::as_str) {
        scrub::register(refresh);
    }
    Ok(token.to_owned())
}

/// The parts of a `Bearer realm="…",service="…"` challenge this exchange needs.
#[derive(Debug, PartialEq, Eq)]
struct Challenge {
    realm: String,
    service: Option<String>,
}

/// Parses one `WWW-Authenticate` value; `None` unless it is a Bearer challenge with a realm.
fn bearer_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim_start();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    for (name, value) in auth_params(params) {
        match name.to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

/// RFC 7235 auth-params: `name=token` or `name="quoted, with \"escapes\""`, comma-separated.
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_owned();
        if name.is_empty() || chars.next() != Some('=') {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_owned();
        }
        out.push((name, value));
    }
}

/// `application/x-www-form-urlencoded`, as a token endpoint reads it.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for &b in s.as_bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(char::from(b));
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The innermost cause of a request error ("Connection refused"), which is the useful one.
fn innermost(err: &reqwest::Error) -> String {
    let mut reason = err.to_string();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    if let Some(cut) = reason.find(" (os error") {
        reason.truncate(cut);
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_parse() {
        assert_eq!(
            bearer_challenge(
                r#"Bearer realm="https://auth.example/token",service="reg.example",scope="repository:a/b:pull""#
            ),
            Some(Challenge {
                realm: "https://auth.example/token".into(),
                service: Some("reg.example".into())
            })
        );
        assert_eq!(
            bearer_challenge(r#"bearer realm=http://127.0.0.1:5/t"#),
            Some(Challenge {
                realm: "http://127.0.0.1:5/t".into(),
                service: None
            })
        );
        assert_eq!(bearer_challenge(r#"Basic realm="registry""#), None);
        assert_eq!(bearer_challenge(r#"Bearer service="x""#), None);
        assert_eq!(
            auth_params(r#"a="x, \"y\"", b=z"#),
            [("a".into(), "x, \"y\"".into()), ("b".into(), "z".into())]
        );
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form_encode(&[("scope", "repository:a/b:pull,push"), ("t", "x y&z=")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&t=x+y%26z%3D"
        );
    }
}
