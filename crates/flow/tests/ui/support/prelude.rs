// The set-up every misuse starts from: a flow whose transport is never called.
use std::sync::Arc;
use zoho_oauth_core::{BoxFuture, DataCenter, Endpoints, Environment, HttpClient, HttpRequest, RequestKind, StreamingResponse, TransportError};
use zoho_oauth_flow::{ClientConfig, Flow, Unauthorized};

#[derive(Debug)]
struct NoNetwork;

impl HttpClient for NoNetwork {
    fn execute(&self, _: HttpRequest, _: RequestKind) -> BoxFuture<'_, Result<StreamingResponse, TransportError>> {
        unimplemented!()
    }
}

fn unauthorized() -> Flow<Unauthorized> {
    let config = ClientConfig::new("1000.CLIENT", Endpoints::zoho(DataCenter::Us, Environment::Production));
    Flow::new(config, Arc::new(NoNetwork))
}
