//! Where the flow sends its requests: Zoho's data centers and environments, or any RFC 6749 server.
//!
//! The data-center table is Zoho's (see "Multi DC" in Zoho's OAuth documentation).
//! [`Endpoints`] also records which accounts servers a callback may redirect the code exchange to,
//! because honouring an arbitrary `accounts-server` would send the code and the client secret
//! to whoever crafted the redirect.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::Error;

/// A Zoho data center.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DataCenter {
    /// United States, `accounts.zoho.com`.
    Us,
    /// Europe, `accounts.zoho.eu`.
    Eu,
    /// India, `accounts.zoho.in`.
    In,
    /// Australia, `accounts.zoho.com.au`.
    Au,
    /// Japan, `accounts.zoho.jp`.
    Jp,
    /// China, `accounts.zoho.com.cn`.
    Cn,
    /// Canada, `accounts.zohocloud.ca`.
    Ca,
    /// Saudi Arabia, `accounts.zoho.sa`.
    Sa,
    /// United Kingdom, `accounts.zoho.uk`.
    Uk,
}

impl DataCenter {
    /// Every data center.
    pub const ALL: [DataCenter; 9] = [
        DataCenter::Us,
        DataCenter::Eu,
        DataCenter::In,
        DataCenter::Au,
        DataCenter::Jp,
        DataCenter::Cn,
        DataCenter::Ca,
        DataCenter::Sa,
        DataCenter::Uk,
    ];

    /// The `location` code Zoho puts in the redirect (`us`, `eu`, ...).
    pub fn location(self) -> &'static str {
        match self {
            DataCenter::Us => "us",
            DataCenter::Eu => "eu",
            DataCenter::In => "in",
            DataCenter::Au => "au",
            DataCenter::Jp => "jp",
            DataCenter::Cn => "cn",
            DataCenter::Ca => "ca",
            DataCenter::Sa => "sa",
            DataCenter::Uk => "uk",
        }
    }

    /// The accounts server, e.g. `https://accounts.zoho.eu`.
    pub fn accounts_server(self) -> &'static str {
        match self {
            DataCenter::Us => "https://accounts.zoho.com",
            DataCenter::Eu => "https://accounts.zoho.eu",
            DataCenter::In => "https://accounts.zoho.in",
            DataCenter::Au => "https://accounts.zoho.com.au",
            DataCenter::Jp => "https://accounts.zoho.jp",
            DataCenter::Cn => "https://accounts.zoho.com.cn",
            DataCenter::Ca => "https://accounts.zohocloud.ca",
            DataCenter::Sa => "https://accounts.zoho.sa",
            DataCenter::Uk => "https://accounts.zoho.uk",
        }
    }

    /// The top-level domain of the API host, e.g. `com.au` in `www.zohoapis.com.au`.
    fn api_tld(self) -> &'static str {
        match self {
            DataCenter::Us => "com",
            DataCenter::Eu => "eu",
            DataCenter::In => "in",
            DataCenter::Au => "com.au",
            DataCenter::Jp => "jp",
            DataCenter::Cn => "com.cn",
            DataCenter::Ca => "ca",
            DataCenter::Sa => "sa",
            // Zoho has not published the UK API domain; this follows the pattern of the others.
            DataCenter::Uk => "uk",
        }
    }

    /// The API domain for `environment`, e.g. `https://sandbox.zohoapis.eu`.
    pub fn api_domain(self, environment: Environment) -> String {
        let prefix = match environment {
            Environment::Production => "www",
            Environment::Sandbox => "sandbox",
            Environment::Developer => "developer",
        };
        format!("https://{prefix}.zohoapis.{}", self.api_tld())
    }

    /// The data center whose accounts server is `origin` (scheme and host, no path).
    pub fn from_accounts_server(origin: &str) -> Option<Self> {
        let origin = origin.trim_end_matches('/');
        Self::ALL.into_iter().find(|dc| dc.accounts_server() == origin)
    }
}

impl fmt::Display for DataCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.location())
    }
}

impl FromStr for DataCenter {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.to_ascii_lowercase();
        Self::ALL.into_iter().find(|dc| dc.location() == lower).ok_or(Error::UnknownDataCenter)
    }
}

/// A Zoho CRM environment. Tokens belong to one environment: a production token fails in the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Live data, `www.zohoapis.*`.
    #[default]
    Production,
    /// The sandbox, `sandbox.zohoapis.*`.
    Sandbox,
    /// The developer edition, `developer.zohoapis.*`.
    Developer,
}

/// Which protocol dialect the server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// Zoho's: comma-joined scopes in the authorization request, errors with HTTP 200,
    /// `accounts-server` in the callback, client credentials in the form body,
    /// `Authorization: Zoho-oauthtoken` at the API, revocation with `?token=`.
    Zoho,
    /// Plain RFC 6749 / 6750 / 7009 / 7636.
    Standard,
}

/// How the client authenticates at the token endpoint
/// ([RFC 6749 section 2.3.1](https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_id` and `client_secret` in the form body (what Zoho expects).
    RequestBody,
    /// An HTTP Basic `Authorization` header.
    BasicHeader,
}

/// The servers one flow talks to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    dialect: Dialect,
    authorization_url: Url,
    token_url: Url,
    revocation_url: Option<Url>,
    api_domain: Option<Url>,
    client_auth: ClientAuth,
    /// Origins a callback's `accounts-server` may name, the configured one included.
    trusted_accounts_servers: Vec<String>,
    /// The environment the tokens belong to; part of the key they are stored under.
    #[serde(default)]
    environment: Environment,
    /// The issuer the authorization response must name in `iss` (RFC 9207), if the server sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// A standard server's device authorization endpoint (RFC 8628 section 3.1); Zoho's is derived
    /// from the accounts server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_authorization_url: Option<Url>,
    /// Data-center location codes (Zoho's `user_location`) and the accounts servers they name,
    /// besides Zoho's own table: the emulator's data centers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    locations: Vec<(String, String)>,
    /// Origins the user trusts with access tokens besides the ones the dialect trusts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    trusted_api_domains: Vec<String>,
}

impl Endpoints {
    /// Zoho's accounts server at `data_center`, for `environment`.
    ///
    /// A callback may move the exchange to any other Zoho data center's accounts server
    /// (Zoho's multi-DC sign-in), never to another host.
    pub fn zoho(data_center: DataCenter, environment: Environment) -> Self {
        let base = Url::parse(data_center.accounts_server()).expect("the data-center table holds valid URLs");
        let api = Url::parse(&data_center.api_domain(environment)).expect("the data-center table holds valid URLs");
        let trusted = DataCenter::ALL.iter().map(|dc| dc.accounts_server().to_owned()).collect();
        Self { environment, ..Self::zoho_at(&base, Some(api), trusted) }
    }

    /// A server that speaks Zoho's dialect at a custom base URL, such as the emulator.
    ///
    /// `other_accounts_servers` lists the further accounts servers a callback may redirect to
    /// (the emulator's other data centers); anything else in `accounts-server` is refused.
    pub fn zoho_custom(
        accounts_server: &str,
        api_domain: Option<&str>,
        other_accounts_servers: &[&str],
    ) -> Result<Self, Error> {
        let base = parse_origin(accounts_server)?;
        let api = api_domain.map(|d| parse_url(d, "api domain")).transpose()?;
        let mut trusted = vec![origin_of(&base)];
        for other in other_accounts_servers {
            trusted.push(origin_of(&parse_origin(other)?));
        }
        Ok(Self::zoho_at(&base, api, trusted))
    }

    fn zoho_at(base: &Url, api_domain: Option<Url>, trusted: Vec<String>) -> Self {
        let (authorization_url, token_url, revocation_url) = zoho_paths(base);
        Self {
            dialect: Dialect::Zoho,
            authorization_url,
            token_url,
            revocation_url: Some(revocation_url),
            api_domain,
            client_auth: ClientAuth::RequestBody,
            trusted_accounts_servers: trusted,
            environment: Environment::Production,
            issuer: None,
            device_authorization_url: None,
            locations: Vec::new(),
            trusted_api_domains: Vec::new(),
        }
    }

    /// Any RFC 6749 server, by its endpoint URLs.
    ///
    /// The client authenticates with HTTP Basic by default, the method every server must support
    /// (RFC 6749 section 2.3.1); change it with [`Endpoints::with_client_auth`].
    pub fn standard(authorization_url: &str, token_url: &str, revocation_url: Option<&str>) -> Result<Self, Error> {
        Ok(Self {
            dialect: Dialect::Standard,
            authorization_url: parse_url(authorization_url, "authorization url")?,
            token_url: parse_url(token_url, "token url")?,
            revocation_url: revocation_url.map(|u| parse_url(u, "revocation url")).transpose()?,
            api_domain: None,
            client_auth: ClientAuth::BasicHeader,
            trusted_accounts_servers: Vec::new(),
            environment: Environment::Production,
            issuer: None,
            device_authorization_url: None,
            locations: Vec::new(),
            trusted_api_domains: Vec::new(),
        })
    }

    /// Sets the environment the tokens belong to (production unless set, or given to [`Endpoints::zoho`]).
    pub fn with_environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Requires authorization responses to carry `iss` equal to `issuer` (RFC 9207), the defence
    /// against mix-up attacks when one client talks to several authorization servers.
    ///
    /// Set it for servers that advertise `authorization_response_iss_parameter_supported`;
    /// a response without `iss`, or with another one, is then refused before any request.
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// The issuer authorization responses must name, if one is required.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The environment the tokens belong to.
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// Sets how the client authenticates at the token endpoint.
    pub fn with_client_auth(mut self, client_auth: ClientAuth) -> Self {
        self.client_auth = client_auth;
        self
    }

    /// Sets the API domain used when a token response does not name one.
    pub fn with_api_domain(mut self, api_domain: &str) -> Result<Self, Error> {
        self.api_domain = Some(parse_url(api_domain, "api domain")?);
        Ok(self)
    }

    /// Trusts `api_domain` (an origin such as `https://crm.example.com`) with access tokens: a token
    /// response may name it, and `Flow::send` may call it, although the dialect would not trust it
    /// (see [`Endpoints::trusts_api_domain`]). It must be `https`, or `http` on a loopback host.
    pub fn with_trusted_api_domain(mut self, api_domain: &str) -> Result<Self, Error> {
        let url = parse_url(api_domain, "api domain")?;
        self.trusted_api_domains.push(origin_of(&url));
        Ok(self)
    }

    /// Whether the library may send an access token to `url`'s origin: the API domain a token
    /// response names, or the target of an API call.
    ///
    /// Trusted are, first, the API domain configured for these endpoints and the ones given to
    /// [`Endpoints::with_trusted_api_domain`]; then, over `https` only (or `http` on a loopback host
    /// when the token endpoint itself is on loopback, as with an emulator):
    /// - for Zoho, a Zoho API domain of any data center in the configured environment
    ///   (`www.zohoapis.<tld>` in production, `sandbox.` and `developer.` in the others), and, when
    ///   the token endpoint is on loopback, any loopback origin;
    /// - for a standard server, any origin (RFC 6749 does not define `api_domain`; the caller chose the host).
    ///
    /// A URL with a user name or password is never trusted.
    pub fn trusts_api_domain(&self, url: &Url) -> bool {
        if !url.username().is_empty() || url.password().is_some() || url.host().is_none() {
            return false;
        }
        let origin = origin_of(url);
        if self.trusted_api_domains.contains(&origin)
            || self.api_domain.as_ref().is_some_and(|d| origin_of(d) == origin)
        {
            return true;
        }
        let local = is_loopback(url) && is_loopback(&self.token_url);
        let secure = match url.scheme() {
            "https" => true,
            "http" => local,
            _ => false,
        };
        secure
            && match self.dialect {
                Dialect::Zoho => local || is_zoho_api_domain(&origin, self.environment),
                Dialect::Standard => true,
            }
    }

    /// The dialect the server speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The authorization endpoint ([RFC 6749 section 3.1](https://www.rfc-editor.org/rfc/rfc6749#section-3.1)).
    pub fn authorization_url(&self) -> &Url {
        &self.authorization_url
    }

    /// The token endpoint ([RFC 6749 section 3.2](https://www.rfc-editor.org/rfc/rfc6749#section-3.2)).
    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The revocation endpoint ([RFC 7009](https://www.rfc-editor.org/rfc/rfc7009)), if the server has one.
    pub fn revocation_url(&self) -> Option<&Url> {
        self.revocation_url.as_ref()
    }

    /// The API domain configured for these endpoints, if any.
    pub fn api_domain(&self) -> Option<&Url> {
        self.api_domain.as_ref()
    }

    /// How the client authenticates at the token endpoint.
    pub fn client_auth(&self) -> ClientAuth {
        self.client_auth
    }

    /// The accounts server these endpoints belong to (scheme, host and port).
    pub fn accounts_server(&self) -> String {
        origin_of(&self.token_url)
    }

    /// Sets a standard server's device authorization endpoint
    /// ([RFC 8628 section 3.1](https://www.rfc-editor.org/rfc/rfc8628#section-3.1)); polls go to the
    /// token endpoint. Zoho endpoints have theirs already (`/oauth/v3/device/code`).
    pub fn with_device_authorization_url(mut self, url: &str) -> Result<Self, Error> {
        self.device_authorization_url = Some(parse_url(url, "device authorization url")?);
        Ok(self)
    }

    /// Names the accounts server of a data center by its location code, for Zoho's device flow,
    /// whose `other_dc` answer names the user's data center only by its `user_location`.
    ///
    /// Zoho's own codes (`us`, `eu`, ...) are known already; this is for servers such as the
    /// emulator. The server also becomes one a redirect may name, as with
    /// [`Endpoints::zoho_custom`]'s `other_accounts_servers`.
    pub fn with_location(mut self, location: &str, accounts_server: &str) -> Result<Self, Error> {
        let origin = origin_of(&parse_origin(accounts_server)?);
        if !self.trusted_accounts_servers.contains(&origin) {
            self.trusted_accounts_servers.push(origin.clone());
        }
        self.locations.retain(|(code, _)| !code.eq_ignore_ascii_case(location));
        self.locations.push((location.to_ascii_lowercase(), origin));
        Ok(self)
    }

    /// Where the device flow starts: Zoho's `/oauth/v3/device/code` on the accounts server, or a
    /// standard server's device authorization endpoint if one was set.
    pub fn device_authorization_url(&self) -> Option<Url> {
        match self.dialect {
            Dialect::Zoho => Some(self.on_accounts_server("/oauth/v3/device/code")),
            Dialect::Standard => self.device_authorization_url.clone(),
        }
    }

    /// Where the device flow polls: Zoho's `/oauth/v3/device/token` on the accounts server, or a
    /// standard server's token endpoint (RFC 8628 section 3.4).
    pub fn device_token_url(&self) -> Url {
        match self.dialect {
            Dialect::Zoho => self.on_accounts_server("/oauth/v3/device/token"),
            Dialect::Standard => self.token_url.clone(),
        }
    }

    fn on_accounts_server(&self, path: &str) -> Url {
        self.token_url.join(path).expect("joining an absolute path to a valid URL cannot fail")
    }

    /// The endpoints of the data center whose location code is `location` (Zoho's `user_location`
    /// in a device flow's `other_dc` answer), under the same trust rules as
    /// [`redirected_to`](Self::redirected_to).
    ///
    /// The code is matched without regard to case, first against the locations given with
    /// [`with_location`](Self::with_location), then against Zoho's table. A value that is itself an
    /// origin is taken as the accounts server.
    pub fn located(&self, location: &str) -> Result<Self, Error> {
        let location = location.trim();
        let custom = self.locations.iter().find(|(code, _)| code.eq_ignore_ascii_case(location));
        let origin = match custom {
            Some((_, origin)) => origin.clone(),
            None if location.contains("://") => location.to_owned(),
            None => {
                let untrusted =
                    || Error::UntrustedAccountsServer { server: crate::redact::excerpt(location.as_bytes()) };
                location.parse::<DataCenter>().map_err(|_| untrusted())?.accounts_server().to_owned()
            }
        };
        self.redirected_to(&origin)
    }

    /// The endpoints to use after a callback named `accounts_server` (Zoho's multi-DC redirect).
    ///
    /// Returns `self` unchanged when it names the configured server, and fails with
    /// [`Error::UntrustedAccountsServer`] when it names a host these endpoints do not trust,
    /// or is anything but a bare origin. Standard servers trust no redirect at all.
    pub fn redirected_to(&self, accounts_server: &str) -> Result<Self, Error> {
        let untrusted =
            || Error::UntrustedAccountsServer { server: crate::redact::excerpt(accounts_server.as_bytes()) };
        let url = parse_origin(accounts_server).map_err(|_| untrusted())?;
        let origin = origin_of(&url);
        if origin == self.accounts_server() {
            return Ok(self.clone());
        }
        if self.dialect != Dialect::Zoho || !self.trusted_accounts_servers.contains(&origin) {
            return Err(untrusted());
        }
        let (_, token_url, revocation_url) = zoho_paths(&url);
        // The fallback API domain belongs to the data center the flow started at; after a
        // redirect it must be the new data center's, or none if that is not a known one.
        let api_domain =
            DataCenter::from_accounts_server(&origin).and_then(|dc| Url::parse(&dc.api_domain(self.environment)).ok());
        Ok(Self { token_url, revocation_url: Some(revocation_url), api_domain, ..self.clone() })
    }
}

/// Whether `origin` is a Zoho API domain of any data center in `environment`.
fn is_zoho_api_domain(origin: &str, environment: Environment) -> bool {
    DataCenter::ALL.iter().any(|dc| dc.api_domain(environment) == origin)
}

fn zoho_paths(base: &Url) -> (Url, Url, Url) {
    let join = |path: &str| base.join(path).expect("joining an absolute path to an origin cannot fail");
    (join("/oauth/v2/auth"), join("/oauth/v2/token"), join("/oauth/v2/token/revoke"))
}

/// Parses an endpoint URL: `https`, or `http` on a loopback host only (RFC 8252 section 8.3),
/// so that tests and emulators run on plain HTTP while real credentials never cross a network in clear.
fn parse_url(value: &str, what: &'static str) -> Result<Url, Error> {
    let url = Url::parse(value).map_err(|_| Error::InvalidUrl { what })?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        _ => Err(Error::InvalidUrl { what }),
    }
}

/// Whether `url` names a loopback host: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Parses a URL that must be a bare origin: a scheme and host, optionally a port, nothing else.
fn parse_origin(value: &str) -> Result<Url, Error> {
    let what = "accounts server";
    let url = parse_url(value, what)?;
    let bare = url.username().is_empty()
        && url.password().is_none()
        && (url.path() == "/" || url.path().is_empty())
        && url.query().is_none()
        && url.fragment().is_none();
    if bare { Ok(url) } else { Err(Error::InvalidUrl { what }) }
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_center_table() {
        assert_eq!(DataCenter::Au.api_domain(Environment::Production), "https://www.zohoapis.com.au");
        assert_eq!(DataCenter::Eu.api_domain(Environment::Sandbox), "https://sandbox.zohoapis.eu");
        assert_eq!(DataCenter::Us.api_domain(Environment::Developer), "https://developer.zohoapis.com");
        assert_eq!(DataCenter::Ca.accounts_server(), "https://accounts.zohocloud.ca");
        assert_eq!(DataCenter::from_accounts_server("https://accounts.zoho.in/"), Some(DataCenter::In));
        assert_eq!("EU".parse::<DataCenter>().unwrap(), DataCenter::Eu);
        for dc in DataCenter::ALL {
            let endpoints = Endpoints::zoho(dc, Environment::Production);
            assert_eq!(endpoints.accounts_server(), dc.accounts_server());
            assert_eq!(endpoints.token_url().path(), "/oauth/v2/token");
        }
    }

    #[test]
    fn device_urls_and_locations() {
        let us = Endpoints::zoho(DataCenter::Us, Environment::Production);
        assert_eq!(us.device_authorization_url().unwrap().as_str(), "https://accounts.zoho.com/oauth/v3/device/code");
        let eu = us.located("EU").unwrap();
        assert_eq!(eu.device_token_url().as_str(), "https://accounts.zoho.eu/oauth/v3/device/token");
        assert_eq!(us.located("https://accounts.zoho.in").unwrap().accounts_server(), "https://accounts.zoho.in");
        assert!(us.located("mars").is_err());
        assert!(us.located("https://accounts.evil.example").is_err());
        let custom = Endpoints::zoho_custom("http://127.0.0.1:1", None, &[]).unwrap();
        assert!(custom.located("eu").is_err(), "Zoho's real eu is not trusted by custom endpoints");
        let custom = custom.with_location("eu", "http://127.0.0.1:2").unwrap();
        assert_eq!(custom.located("eu").unwrap().accounts_server(), "http://127.0.0.1:2");
        let standard = Endpoints::standard("https://as.example/auth", "https://as.example/token", None).unwrap();
        assert!(standard.device_authorization_url().is_none());
        let standard = standard.with_device_authorization_url("https://as.example/device").unwrap();
        assert_eq!(standard.device_authorization_url().unwrap().as_str(), "https://as.example/device");
        assert_eq!(standard.device_token_url().as_str(), "https://as.example/token");
    }

    #[test]
    fn redirect_to_another_zoho_data_center() {
        let us = Endpoints::zoho(DataCenter::Us, Environment::Production);
        let eu = us.redirected_to("https://accounts.zoho.eu").unwrap();
        assert_eq!(eu.token_url().as_str(), "https://accounts.zoho.eu/oauth/v2/token");
        assert_eq!(eu.revocation_url().unwrap().as_str(), "https://accounts.zoho.eu/oauth/v2/token/revoke");
        assert_eq!(eu.api_domain().unwrap().as_str(), "https://www.zohoapis.eu/");
        let sandbox =
            Endpoints::zoho(DataCenter::Us, Environment::Sandbox).redirected_to("https://accounts.zoho.in").unwrap();
        assert_eq!(sandbox.api_domain().unwrap().as_str(), "https://sandbox.zohoapis.in/");
        assert_eq!(us.redirected_to("https://accounts.zoho.com").unwrap(), us);
    }

    #[test]
    fn foreign_accounts_servers_are_refused() {
        let us = Endpoints::zoho(DataCenter::Us, Environment::Production);
        for bad in [
            "https://evil.example",
            "http://accounts.zoho.eu",
            "https://accounts.zoho.eu.evil.example",
            "https://accounts.zoho.eu@evil.example",
            "https://accounts.zoho.eu/steal",
            "https://accounts.zoho.eu?x=1",
            "not a url",
            "",
        ] {
            assert!(matches!(us.redirected_to(bad), Err(Error::UntrustedAccountsServer { .. })), "{bad}");
        }
    }

    #[test]
    fn api_domains_are_trusted_by_dialect_environment_and_choice() {
        let url = |s: &str| Url::parse(s).unwrap();
        let us = Endpoints::zoho(DataCenter::Us, Environment::Production);
        for good in ["https://www.zohoapis.com", "https://www.zohoapis.eu/", "https://www.zohoapis.com.au/crm/v8"] {
            assert!(us.trusts_api_domain(&url(good)), "{good}");
        }
        for bad in [
            "http://www.zohoapis.com",
            "https://sandbox.zohoapis.com",
            "https://www.zohoapis.com.evil.example",
            "https://evil.example",
            "https://user@www.zohoapis.com",
            "https://www.zohoapis.com:8443",
            "http://127.0.0.1:4000",
            "ftp://www.zohoapis.com",
        ] {
            assert!(!us.trusts_api_domain(&url(bad)), "{bad}");
        }
        let sandbox = Endpoints::zoho(DataCenter::Eu, Environment::Sandbox);
        assert!(sandbox.trusts_api_domain(&url("https://sandbox.zohoapis.in")));
        assert!(!sandbox.trusts_api_domain(&url("https://www.zohoapis.eu")));
        let trusted = us.clone().with_trusted_api_domain("https://crm.example.com").unwrap();
        assert!(trusted.trusts_api_domain(&url("https://crm.example.com/crm/v8")));
        assert!(!trusted.trusts_api_domain(&url("https://crm.example.com:444")));
        assert!(us.clone().with_trusted_api_domain("http://crm.example.com").is_err());

        // On loopback (an emulator), loopback origins are trusted; nothing in clear elsewhere is.
        let emu = Endpoints::zoho_custom("http://127.0.0.1:4000", None, &[]).unwrap();
        assert!(emu.trusts_api_domain(&url("http://127.0.0.1:4001")));
        assert!(emu.trusts_api_domain(&url("https://www.zohoapis.com")));
        assert!(!emu.trusts_api_domain(&url("http://crm.example.com")));
        assert!(!emu.trusts_api_domain(&url("https://crm.example.com")));

        let standard = Endpoints::standard("https://as.example/auth", "https://as.example/token", None).unwrap();
        assert!(standard.trusts_api_domain(&url("https://api.example")));
        assert!(!standard.trusts_api_domain(&url("http://api.example")));
        assert!(!standard.trusts_api_domain(&url("http://127.0.0.1:80")));
    }

    #[test]
    fn custom_endpoints_trust_only_their_list() {
        let emu = Endpoints::zoho_custom("http://127.0.0.1:4000", None, &["http://127.0.0.1:4001"]).unwrap();
        assert!(emu.redirected_to("http://127.0.0.1:4001").is_ok());
        assert!(emu.redirected_to("http://127.0.0.1:4002").is_err());
        assert!(Endpoints::standard("http://as.example/auth", "http://as.example/token", None).is_err());
        assert!(Endpoints::zoho_custom("http://10.0.0.1:4000", None, &[]).is_err());
        assert!(Endpoints::zoho_custom("http://localhost:4000", None, &[]).is_ok());
        let standard = Endpoints::standard("https://as.example/auth", "https://as.example/token", None).unwrap();
        assert!(standard.redirected_to("https://other.example").is_err());
        assert!(standard.redirected_to("https://as.example").is_ok());
    }
}
