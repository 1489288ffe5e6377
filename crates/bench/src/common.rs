//! What every benchmark shares: the client's identity, the contenders' set-up, and the statistics.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;
use zoho_oauth::{
    AccessToken, Authorized, ClientConfig, ClientSecret, Endpoints, Flow, RefreshToken, ReqwestClient, Scopes,
    TokenSet, Unauthorized,
};

pub use crate::identity::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, SCOPE, STORE_USER};

/// An unauthorized flow for the token server at `server`, on a new HTTP client (new connections).
pub fn zoho_flow(server: &Url) -> anyhow::Result<Flow<Unauthorized>> {
    let endpoints = Endpoints::zoho_custom(server.as_str(), Some(server.as_str()), &[])?;
    // The refresh benchmark renews back to back to time the request path, so the floor between two
    // renewals of one grant, which would rightly turn those renewals into cached reads, is off.
    let mut policy = zoho_oauth::RefreshPolicy::default();
    policy.min_interval = chrono::Duration::zero();
    let config = ClientConfig::new(CLIENT_ID, endpoints)
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .scopes(Scopes::zoho([SCOPE])?)
        .refresh_policy(policy);
    Ok(Flow::new(config, Arc::new(ReqwestClient::new()?)))
}

/// Tokens from the server at `server` whose access token expires at `expires_at`.
pub fn token_set(server: &Url, expires_at: chrono::DateTime<chrono::Utc>) -> anyhow::Result<TokenSet> {
    Ok(TokenSet::new(
        AccessToken::new(crate::identity::access_token(u64::MAX)),
        Some(RefreshToken::new(REFRESH_TOKEN)),
        expires_at,
        Some(server.clone()),
        server.origin().ascii_serialization(),
        Scopes::zoho([SCOPE])?,
    ))
}

/// A session holding tokens that expire at `expires_at`, as a program that restored them has.
pub fn zoho_session(server: &Url, expires_at: chrono::DateTime<chrono::Utc>) -> anyhow::Result<Flow<Authorized>> {
    Ok(zoho_flow(server)?.restore(token_set(server, expires_at)?)?)
}

/// yup-oauth2's authenticator as its documentation builds it, with its default hyper client.
pub type YupAuthenticator = yup_oauth2::authenticator::DefaultAuthenticator;

/// Answers yup-oauth2's installed flow with a code at once, standing in for the user; or, with
/// `None`, refuses, so that an authenticator that falls back to asking the user fails loudly.
struct CodeDelegate(Option<&'static str>);

impl yup_oauth2::authenticator_delegate::InstalledFlowDelegate for CodeDelegate {
    fn present_user_url<'a>(
        &'a self,
        _url: &'a str,
        _need_code: bool,
    ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'a>> {
        let answer = self.0.map(str::to_owned).ok_or_else(|| "the benchmark never asks the user".to_owned());
        Box::pin(async move { answer })
    }
}

/// A yup-oauth2 authenticator for the token server at `server`, on a new hyper client, with its
/// tokens in memory or, given `disk`, in that file.
///
/// `interactive` lets its installed flow get a code (the first `token()` call exchanges one);
/// without it, an authenticator that has no usable token fails instead of asking.
pub async fn yup_authenticator(
    server: &Url,
    disk: Option<&Path>,
    interactive: bool,
) -> anyhow::Result<YupAuthenticator> {
    let secret = yup_oauth2::ApplicationSecret {
        client_id: CLIENT_ID.to_owned(),
        client_secret: CLIENT_SECRET.to_owned(),
        token_uri: server.join("/oauth/v2/token")?.to_string(),
        auth_uri: server.join("/oauth/v2/auth")?.to_string(),
        ..Default::default()
    };
    let delegate = CodeDelegate(interactive.then_some("bench-code"));
    let builder =
        yup_oauth2::InstalledFlowAuthenticator::builder(secret, yup_oauth2::InstalledFlowReturnMethod::Interactive)
            .flow_delegate(Box::new(delegate));
    let builder = match disk {
        Some(path) => builder.persist_tokens_to_disk(path),
        None => builder,
    };
    Ok(builder.build().await?)
}

/// The median and spread of a set of measurements.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Summary {
    pub median: f64,
    /// The 10th percentile.
    pub p10: f64,
    /// The 90th percentile.
    pub p90: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

impl Summary {
    /// Summarises `values`; all zeros when there are none.
    pub fn of(values: &[f64]) -> Summary {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
            return Summary { median: 0.0, p10: 0.0, p90: 0.0, min: 0.0, max: 0.0, samples: 0 };
        };
        Summary {
            median: quantile(&sorted, 0.5),
            p10: quantile(&sorted, 0.1),
            p90: quantile(&sorted, 0.9),
            min,
            max,
            samples: sorted.len(),
        }
    }
}

/// The ratios `values[i] / bases[i]` of samples taken in turns, summarised.
pub fn paired_ratio(values: &[f64], bases: &[f64]) -> Summary {
    let ratios: Vec<f64> = values.iter().zip(bases).filter(|(_, b)| **b > 0.0).map(|(v, b)| v / b).collect();
    Summary::of(&ratios)
}

/// The `q` quantile of sorted, non-empty `values`, interpolating between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = q * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    let weight = rank - low as f64;
    sorted[low] * (1.0 - weight) + sorted[high] * weight
}

/// A multi-threaded runtime with one worker per core, as a server application would run.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_a_few_values() {
        let summary = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert!((summary.median - 3.0).abs() < 1e-9);
        assert!((summary.min - 1.0).abs() < 1e-9 && (summary.max - 5.0).abs() < 1e-9);
        assert!((summary.p10 - 1.4).abs() < 1e-9);
        assert_eq!(summary.samples, 5);
        assert_eq!(Summary::of(&[]).samples, 0);
    }
}
