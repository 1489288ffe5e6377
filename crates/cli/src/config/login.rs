//! The settings only `login` uses: the scopes and the loopback redirect URI.

use clap::ArgMatches;
use url::Url;
use zoho_oauth::{Scope, Scopes};

use super::file::FileConfig;
use super::precedence::{Origin, Setting, from_clap, invalid, non_empty};
use crate::cli::LoginArgs;
use crate::error::{CliError, Result};

/// The scopes `login` asks for when none are configured.
pub const DEFAULT_SCOPES: [&str; 2] = ["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"];
/// The redirect URI's default host: the IPv4 loopback literal, as RFC 8252 section 7.3 recommends.
pub const DEFAULT_REDIRECT_HOST: &str = "127.0.0.1";
/// The redirect URI's default port.
pub const DEFAULT_REDIRECT_PORT: u16 = 8910;
/// The redirect URI's default path.
pub const DEFAULT_REDIRECT_PATH: &str = "/callback";

/// The settings only `login` uses.
pub struct LoginSettings {
    /// The scopes to ask for.
    pub scopes: Setting<Scopes>,
    /// The redirect URI registered in Zoho's API console, e.g. `http://127.0.0.1:8910/callback`.
    pub redirect_uri: Setting<Url>,
    /// The org a client-credentials login asks a token for, `ZohoCRM.<org id>`; checked only
    /// when that login is asked for, so that a variable or config key set for it does not get in
    /// the way of other logins.
    pub soid: Option<Setting<String>>,
}

impl LoginSettings {
    /// Resolves `login`'s settings from its flags, the environment and the config file.
    pub fn resolve(args: &LoginArgs, matches: &ArgMatches, mut file: Option<&mut FileConfig>) -> Result<Self> {
        let file_path = file.as_ref().map(|f| f.path.clone());
        let mut get = |take: fn(&mut super::file::FileProfile) -> Option<String>| {
            file.as_mut().and_then(|f| f.get(take)).and_then(|v| non_empty(Some(v)))
        };
        let host = from_clap(matches, "redirect_host", non_empty(args.redirect_host.clone()))
            .or_else(|| get(|p| p.redirect_host.take()).map(|value| Setting::new(value, Origin::File)));
        let path = from_clap(matches, "redirect_path", non_empty(args.redirect_path.clone()))
            .or_else(|| get(|p| p.redirect_path.take()).map(|value| Setting::new(value, Origin::File)));
        let port = from_clap(matches, "redirect_port", args.redirect_port).or_else(|| {
            file.as_mut().and_then(|f| f.get(|p| p.redirect_port.take())).map(|value| Setting::new(value, Origin::File))
        });
        let soid = from_clap(matches, "soid", non_empty(args.soid.clone())).or_else(|| {
            let value = file.as_mut().and_then(|f| f.get(|p| p.soid.take()));
            non_empty(value).map(|value| Setting::new(value, Origin::File))
        });
        if let Some(soid) = &soid {
            if soid.origin == Origin::Flag && !args.client_credentials {
                return Err(CliError::usage(
                    "--soid names the org of a --client-credentials login; add --client-credentials",
                ));
            }
            if args.client_credentials {
                check_soid(&soid.value).map_err(|message| invalid(soid.origin, file_path.as_deref(), message))?;
            }
        }
        let scopes_given: Vec<String> = args.scopes.iter().filter(|s| !s.trim().is_empty()).cloned().collect();
        let scopes = from_clap(matches, "scopes", Some(scopes_given)).filter(|s| !s.value.is_empty()).or_else(|| {
            file.as_mut()
                .and_then(|f| f.get(|p| p.scopes.take()))
                .map(|value| Setting::new(value.into_vec(), Origin::File))
        });

        // The URI's origin is the most specific of its parts' origins, for error messages.
        let origins =
            [host.as_ref().map(|s| s.origin), port.as_ref().map(|s| s.origin), path.as_ref().map(|s| s.origin)];
        let uri_origin = origins
            .into_iter()
            .flatten()
            .find(|o| *o == Origin::File)
            .or_else(|| origins.into_iter().flatten().next())
            .unwrap_or(Origin::Default);
        let host = host.map_or_else(|| DEFAULT_REDIRECT_HOST.to_owned(), |s| s.value);
        let port = port.map_or(DEFAULT_REDIRECT_PORT, |s| s.value);
        let path = path.map_or_else(|| DEFAULT_REDIRECT_PATH.to_owned(), |s| s.value);
        let redirect_uri =
            redirect_uri(&host, port, &path).map_err(|message| invalid(uri_origin, file_path.as_deref(), message))?;

        let scopes = match scopes {
            Some(s) => {
                let parsed: std::result::Result<Scopes, _> = s.value.iter().map(|v| Scope::new(v.trim())).collect();
                let value = parsed.map_err(|error| {
                    invalid(
                        s.origin,
                        file_path.as_deref(),
                        format!("invalid scope in {:?}: {error}", s.value.join(",")),
                    )
                })?;
                Setting::new(value, s.origin)
            }
            None => Setting::new(
                DEFAULT_SCOPES
                    .iter()
                    .map(|s| Scope::new(*s))
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|error| CliError::config(format!("the default scopes are invalid: {error}")))?,
                Origin::Default,
            ),
        };
        Ok(Self { scopes, redirect_uri: Setting::new(redirect_uri, uri_origin), soid })
    }
}

/// Checks the shape of Zoho's `soid`, `{service}.{org id}`, before anything is sent: Zoho answers a
/// malformed one with the same `missing_org_info` as a missing one, which would hide the typo.
fn check_soid(soid: &str) -> std::result::Result<(), String> {
    let ok = soid.split_once('.').is_some_and(|(service, org)| {
        !service.is_empty()
            && !org.is_empty()
            && soid.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid soid {soid:?}: give the service and the org id, as ZohoCRM.<org id> (the org id shown in Zoho CRM)"
        ))
    }
}

/// The loopback redirect URI `http://HOST:PORT/PATH`, checked.
fn redirect_uri(host: &str, port: u16, path: &str) -> std::result::Result<Url, String> {
    if port == 0 {
        return Err("the redirect port must be the one registered in Zoho's API console, not 0".to_owned());
    }
    if !path.starts_with('/') || path.contains(['?', '#']) || path.chars().any(char::is_whitespace) {
        return Err(format!("invalid redirect path {path:?}: it starts with `/` and has no `?`, `#` or spaces"));
    }
    // An IPv6 literal needs brackets in a URL.
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_owned() };
    let url = Url::parse(&format!("http://{host}:{port}{path}"))
        .map_err(|_| format!("invalid redirect URI http://{host}:{port}{path}"))?;
    if !zoho_oauth::core::endpoints::is_loopback(&url) {
        return Err(format!(
            "the redirect host {host} is not a loopback address; use 127.0.0.1, [::1] or localhost, \
             so that the code never leaves this machine"
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

    use super::*;

    #[test]
    fn redirect_uris_are_loopback_only() {
        assert_eq!(redirect_uri("127.0.0.1", 8910, "/callback").unwrap().as_str(), "http://127.0.0.1:8910/callback");
        assert_eq!(redirect_uri("::1", 9000, "/cb").unwrap().as_str(), "http://[::1]:9000/cb");
        assert!(redirect_uri("localhost", 9000, "/").is_ok());
        assert!(redirect_uri("192.168.1.2", 9000, "/cb").is_err());
        assert!(redirect_uri("example.com", 9000, "/cb").is_err());
        assert!(redirect_uri("127.0.0.1", 0, "/cb").is_err());
        assert!(redirect_uri("127.0.0.1", 9000, "cb").is_err());
        assert!(redirect_uri("127.0.0.1", 9000, "/cb?x=1").is_err());
    }

    #[test]
    fn soids_are_service_dot_org_id() {
        assert!(check_soid("ZohoCRM.12345678").is_ok());
        assert!(check_soid("ZohoBooks.1-2_3").is_ok());
        for bad in ["12345678", "ZohoCRM.", ".123", "ZohoCRM 123", "ZohoCRM.123&x=1", ""] {
            let error = check_soid(bad).unwrap_err();
            assert!(error.contains("ZohoCRM.<org id>"), "{bad}: {error}");
        }
    }
}
