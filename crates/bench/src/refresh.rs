//! One refresh round trip: through the library, through `oauth2` directly, and as a bare POST.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::Plan;
use crate::common::{CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, Summary, zoho_session};
use crate::server::TokenServer;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub name: String,
    pub role: String,
    /// Microseconds per refresh.
    pub micros: Summary,
    /// This contender's time over the bare POST's, sample by sample (the samples alternate, so
    /// each ratio compares neighbours in time).
    pub paired_ratio: Summary,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub batch: u64,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Copy)]
enum Contender {
    Bare,
    Oauth2,
    ZohoOauth,
}

impl Contender {
    const ALL: [Contender; 3] = [Contender::Bare, Contender::Oauth2, Contender::ZohoOauth];

    fn id(self) -> &'static str {
        match self {
            Contender::Bare => "bare_reqwest",
            Contender::Oauth2 => "oauth2",
            Contender::ZohoOauth => "zoho_oauth",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Contender::Bare => "bare reqwest POST of the same form, body read",
            Contender::Oauth2 => "oauth2 `exchange_refresh_token` on its reqwest client",
            Contender::ZohoOauth => "zoho-oauth `Flow::refresh()`",
        }
    }

    fn role(self) -> &'static str {
        match self {
            Contender::Bare => "floor",
            Contender::Oauth2 => "peer",
            Contender::ZohoOauth => "ours",
        }
    }
}

struct Subjects {
    token_url: url::Url,
    bare: reqwest::Client,
    oauth2_http: reqwest::Client,
    oauth2: oauth2::basic::BasicClient<
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    session: zoho_oauth::Flow<zoho_oauth::Authorized>,
}

pub fn run(plan: &Plan) -> anyhow::Result<Results> {
    let server = TokenServer::start()?;
    let runtime = crate::common::runtime()?;
    let no_redirects = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build();
    let subjects = Subjects {
        token_url: server.token_url(),
        bare: no_redirects()?,
        oauth2_http: no_redirects()?,
        oauth2: oauth2::basic::BasicClient::new(oauth2::ClientId::new(CLIENT_ID.to_owned()))
            .set_client_secret(oauth2::ClientSecret::new(CLIENT_SECRET.to_owned()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_token_uri(oauth2::TokenUrl::new(server.token_url().to_string())?),
        session: zoho_session(server.url(), chrono::Utc::now() + chrono::Duration::hours(1))?,
    };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Contender::ALL.len()];
    let before = server.counts();
    runtime.block_on(async {
        // Warm-up: connections opened and pooled, code paths and allocator warm.
        for contender in Contender::ALL {
            timed(&subjects, contender, plan.refresh_warmup).await?;
        }
        for round in 0..plan.refresh_samples {
            // Forward in even rounds, backward in odd ones, so that no contender always follows
            // the same one: whatever one leaves behind (a busy connection, a cold cache) lands on
            // each in turn.
            let mut order: Vec<usize> = (0..Contender::ALL.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let elapsed = timed(&subjects, Contender::ALL[i], plan.refresh_batch).await?;
                samples[i].push(elapsed.as_secs_f64() * 1e6 / plan.refresh_batch as f64);
            }
        }
        anyhow::Ok(())
    })?;
    let made = server.counts() - before;
    let expected = (plan.refresh_warmup + plan.refresh_samples as u64 * plan.refresh_batch) * 3;
    anyhow::ensure!(
        made.refreshes == expected,
        "expected {expected} refresh requests, the server saw {}",
        made.refreshes
    );
    let rows = Contender::ALL
        .into_iter()
        .enumerate()
        .map(|(i, contender)| Row {
            id: contender.id().to_owned(),
            name: contender.name().to_owned(),
            role: contender.role().to_owned(),
            micros: Summary::of(&samples[i]),
            paired_ratio: crate::common::paired_ratio(&samples[i], &samples[0]),
        })
        .collect();
    Ok(Results { batch: plan.refresh_batch, rows })
}

async fn timed(subjects: &Subjects, contender: Contender, calls: u64) -> anyhow::Result<Duration> {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH_TOKEN),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let refresh_token = oauth2::RefreshToken::new(REFRESH_TOKEN.to_owned());
    let started = Instant::now();
    for _ in 0..calls {
        match contender {
            Contender::Bare => {
                let response = subjects.bare.post(subjects.token_url.clone()).form(&form).send().await?;
                black_box(response.error_for_status()?.bytes().await?);
            }
            Contender::Oauth2 => {
                let response =
                    subjects.oauth2.exchange_refresh_token(&refresh_token).request_async(&subjects.oauth2_http).await?;
                black_box(response);
            }
            Contender::ZohoOauth => subjects.session.refresh().await?,
        }
    }
    Ok(started.elapsed())
}
