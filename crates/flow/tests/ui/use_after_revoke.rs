//! An authorization is consumed by its revocation: its tokens cannot be used afterwards.
use std::sync::Arc;
use zoho_oauth_core::{BoxFuture, DataCenter, Endpoints, Environment, HttpClient, HttpRequest, HttpResponse, RequestKind, TransportError};
use zoho_oauth_flow::{ClientConfig, Flow, Unauthorized};

#[derive(Debug)]
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn execute(&self, _: HttpRequest, _: RequestKind) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        unimplemented!()
    }
}

fn unauthorized() -> Flow<Unauthorized> {
    let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production));
    Flow::new(config, Arc::new(NoNetwork))
}

async fn misuse(callback: &str) {
    let (_url, flow) = unauthorized().authorization_url();
    let authorized = flow.exchange(callback).await.unwrap();
    let _unauthorized = authorized.revoke().await;
    let _ = authorized.access_token().await;
}

fn main() {
    drop(misuse("code=c&state=s"));
}
