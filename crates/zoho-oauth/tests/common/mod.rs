//! Shared set-up for the integration tests: an emulator on loopback and a client configured for it.

#![allow(dead_code, unreachable_pub)] // Each test binary uses a different subset of these helpers.

use std::sync::Arc;

use zoho_accounts_emulator::{Emulator, EmulatorConfig};
use zoho_oauth::{
    ClientConfig, ClientSecret, Endpoints, Flow, HttpPolicy, ManualClock, RequestKind, ReqwestClient, Scopes,
    Unauthorized,
};

pub const CLIENT_ID: &str = "1000.DEMOCLIENT";
pub const CLIENT_SECRET: &str = "demo-client-secret";
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";

pub struct Harness {
    pub emulator: Emulator,
    pub clock: ManualClock,
    pub http: Arc<ReqwestClient>,
}

impl Harness {
    /// An emulator with data centers `us` and `eu`, both on a manual clock shared with the client.
    pub async fn start() -> Self {
        let clock = ManualClock::starting_now();
        let emulator =
            Emulator::start(EmulatorConfig::new().data_centers(&["us", "eu"]).clock(Arc::new(clock.clone())))
                .await
                .expect("the emulator binds to loopback");
        let http = Arc::new(ReqwestClient::new().expect("the default client builds"));
        Self { emulator, clock, http }
    }

    /// Endpoints that start at `us` and trust `eu` for multi-DC redirects.
    pub fn endpoints(&self) -> Endpoints {
        let us = self.emulator.accounts_url("us");
        let eu = self.emulator.accounts_url("eu");
        Endpoints::zoho_custom(us.as_str(), None, &[eu.as_str()]).expect("emulator URLs are valid origins")
    }

    pub fn config(&self) -> ClientConfig {
        self.config_with_secret(CLIENT_SECRET)
    }

    pub fn config_with_secret(&self, secret: &str) -> ClientConfig {
        ClientConfig::new(CLIENT_ID, self.endpoints())
            .client_secret(ClientSecret::new(secret))
            .redirect_uri(REDIRECT_URI)
            .expect("the redirect URI is valid")
            .scopes(Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"]).expect("valid scopes"))
            .clock(Arc::new(self.clock.clone()))
    }

    pub fn flow(&self) -> Flow<Unauthorized> {
        Flow::new(self.config(), self.http.clone())
    }

    /// Follows the authorization URL the way a browser would, with the emulator's headless consent,
    /// and returns the redirect back to the client.
    pub async fn consent(&self, authorization_url: &url::Url) -> String {
        let request = http::Request::get(authorization_url.as_str()).body(Vec::new()).expect("a valid request");
        let response =
            HttpPolicy::default().execute(&*self.http, request, RequestKind::Api).await.expect("the emulator answers");
        assert_eq!(response.status(), 302, "the consent page redirects back");
        response.headers()["location"].to_str().expect("an ASCII location").to_owned()
    }

    /// Calls the emulated CRM endpoint with `authorization` and returns the status and body.
    pub async fn call_crm(&self, api_domain: &url::Url, authorization: http::HeaderValue) -> (u16, serde_json::Value) {
        let url = api_domain.join("/crm/v8/users?type=CurrentUser").expect("a valid path");
        let request = http::Request::get(url.as_str())
            .header(http::header::AUTHORIZATION, authorization)
            .body(Vec::new())
            .expect("a valid request");
        let response =
            HttpPolicy::default().execute(&*self.http, request, RequestKind::Api).await.expect("the emulator answers");
        let body = serde_json::from_slice(response.body()).expect("the emulator answers JSON");
        (response.status().as_u16(), body)
    }
}
