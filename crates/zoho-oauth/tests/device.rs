//! The device flow against the Zoho accounts emulator over real loopback HTTP: every poll answer,
//! `other_dc`, milliseconds, `slow_down`, denial, expiry, cancellation, save and resume.
//! Time moves only on a `ManualClock`; nothing sleeps.

#![allow(clippy::unwrap_used)] // A test fails loudly on any unexpected error; that is its job.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use common::{CLIENT_ID, CLIENT_SECRET, Harness};
use zoho_accounts_emulator::{Emulator, EmulatorConfig};
use zoho_oauth::core::transport::BoxFuture;
use zoho_oauth::{
    Authorized, ClientConfig, ClientSecret, Clock, DeviceCodeIssued, Endpoints, Error, Flow, ManualClock, MemoryStore,
    Poll, ReqwestClient, Scopes, Sleeper, TokenStore, Unauthorized, Waiting,
};

const BUILT_IN_USER: &str = "user@example.com";
const EU_USER: &str = "bruno@example.eu";

/// An emulator at `us` and `eu` sharing a manual clock with the client, whose endpoints name both
/// data centers by location, as Zoho's table does for the real ones.
struct Device {
    h: Harness,
}

impl Device {
    async fn start() -> Self {
        Self { h: Harness::start().await }
    }

    async fn with(config: EmulatorConfig) -> Self {
        let clock = ManualClock::starting_now();
        let emulator =
            Emulator::start(config.data_centers(&["us", "eu"]).clock(Arc::new(clock.clone()))).await.unwrap();
        let http = Arc::new(ReqwestClient::new().unwrap());
        Self { h: Harness { emulator, clock, http } }
    }

    fn endpoints(&self) -> Endpoints {
        let us = self.h.emulator.accounts_url("us");
        let eu = self.h.emulator.accounts_url("eu");
        Endpoints::zoho_custom(us.as_str(), None, &[])
            .unwrap()
            .with_location("us", us.as_str())
            .unwrap()
            .with_location("eu", eu.as_str())
            .unwrap()
    }

    fn config(&self, clock: &ManualClock) -> ClientConfig {
        ClientConfig::new(CLIENT_ID, self.endpoints())
            .client_secret(ClientSecret::new(CLIENT_SECRET))
            .scopes(Scopes::zoho(["ZohoCRM.modules.ALL", "ZohoCRM.users.READ"]).unwrap())
            .clock(Arc::new(clock.clone()))
    }

    fn flow(&self) -> Flow<Unauthorized> {
        Flow::new(self.config(&self.h.clock), self.h.http.clone())
    }

    async fn start_device(&self) -> Flow<DeviceCodeIssued> {
        self.flow().device_authorization().await.expect("the device request is accepted")
    }

    fn polls(&self) -> u64 {
        self.h.emulator.counters().device_token
    }
}

fn pending(poll: Result<Poll, zoho_oauth::DeviceError>) -> (Flow<DeviceCodeIssued>, Waiting) {
    match poll.expect("the poll succeeds") {
        Poll::Pending { flow, waiting } => (flow, waiting),
        Poll::Approved(_) => panic!("expected the flow to be pending"),
    }
}

fn authorized(poll: Result<Poll, zoho_oauth::DeviceError>) -> Flow<Authorized> {
    match poll.expect("the poll succeeds") {
        Poll::Approved(flow) => flow,
        Poll::Pending { waiting, .. } => panic!("expected approval, got {waiting:?}"),
    }
}

/// A sleeper that moves the manual clock to the instant asked, and runs `hook` with the number of
/// sleeps so far.
struct MoveClock<'a> {
    clock: ManualClock,
    sleeps: AtomicUsize,
    hook: Box<dyn Fn(usize) + Send + Sync + 'a>,
}

impl<'a> MoveClock<'a> {
    fn new(clock: &ManualClock, hook: impl Fn(usize) + Send + Sync + 'a) -> Self {
        Self { clock: clock.clone(), sleeps: AtomicUsize::new(0), hook: Box::new(hook) }
    }
}

impl Sleeper for MoveClock<'_> {
    fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        if at > self.clock.now() {
            self.clock.set(at);
        }
        let n = self.sleeps.fetch_add(1, Ordering::SeqCst) + 1;
        (self.hook)(n);
        Box::pin(async {})
    }
}

#[tokio::test]
async fn pending_then_approved_with_zohos_parameters() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    assert_eq!(d.h.emulator.counters().device_code, 1);
    assert!(flow.user_code().len() >= 8, "a user code to show: {}", flow.user_code());
    assert_eq!(flow.verification_uri().origin(), d.h.emulator.accounts_url("us").origin());
    assert_eq!(flow.interval(), Duration::seconds(30));
    assert_eq!(flow.expires_at(), d.h.clock.now() + Duration::minutes(5));
    let saved = serde_json::to_value(flow.pending()).unwrap();
    let device_code = saved["device_code"].as_str().expect("the saved state holds the device code");
    assert!(!format!("{flow:?}").contains(device_code), "Debug redacts the device code");

    // Polling before the interval has passed sends nothing.
    let (flow, waiting) = pending(flow.poll_once().await);
    assert_eq!((waiting, d.polls()), (Waiting::TooEarly, 0));

    d.h.clock.advance(Duration::seconds(30));
    let (flow, waiting) = pending(flow.poll_once().await);
    assert_eq!((waiting, d.polls()), (Waiting::AuthorizationPending, 1));
    assert_eq!(flow.next_poll_at(), d.h.clock.now() + Duration::seconds(30));

    assert!(d.h.emulator.approve_device(flow.user_code(), BUILT_IN_USER));
    d.h.clock.advance(Duration::seconds(30));
    let session = authorized(flow.poll_once().await);
    assert_eq!(d.polls(), 2);
    assert!(session.tokens().refresh_token().is_some(), "access_type=offline yields a refresh token");
    let api = session.api_domain().unwrap();
    let (status, body) = d.h.call_crm(&api, session.authorization_header().await.unwrap()).await;
    assert_eq!(status, 200);
    assert_eq!(body["users"][0]["email"], BUILT_IN_USER);
}

#[tokio::test]
async fn other_dc_moves_polling_to_the_users_data_center() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    assert!(d.h.emulator.approve_device(flow.user_code(), EU_USER));
    d.h.clock.advance(Duration::seconds(30));
    let (flow, waiting) = pending(flow.poll_once().await);
    assert_eq!(waiting, Waiting::OtherDataCenter);
    let eu = d.h.emulator.accounts_url("eu").origin().ascii_serialization();
    assert_eq!(flow.accounts_server(), eu);
    assert_eq!(flow.next_poll_at(), d.h.clock.now(), "the user approved already: poll at once");

    let session = authorized(flow.poll_once().await);
    assert_eq!(d.h.emulator.counters_for("us").device_token, 1);
    assert_eq!(d.h.emulator.counters_for("eu").device_token, 1);
    assert_eq!(session.accounts_server(), eu);
    assert_eq!(session.api_domain().unwrap(), d.h.emulator.api_domain("eu"));

    // Refreshes go to the user's data center too.
    d.h.clock.advance(Duration::minutes(56));
    let header = session.authorization_header().await.unwrap();
    assert_eq!(d.h.emulator.counters_for("eu").token_refresh, 1);
    let (status, body) = d.h.call_crm(&session.api_domain().unwrap(), header).await;
    assert_eq!((status, body["users"][0]["email"].as_str()), (200, Some(EU_USER)));
}

#[tokio::test]
async fn other_dc_to_an_untrusted_data_center_is_refused() {
    let d = Device::start().await;
    // The harness's endpoints trust eu's origin but do not know it by location: `eu` then means
    // Zoho's real accounts.zoho.eu, which these custom endpoints do not trust.
    let flow = Flow::new(d.h.config(), d.h.http.clone()).device_authorization().await.unwrap();
    assert!(d.h.emulator.approve_device(flow.user_code(), EU_USER));
    d.h.clock.advance(Duration::seconds(30));
    let error = flow.poll_once().await.expect_err("an unknown data center is refused");
    assert!(matches!(error.error(), Error::UntrustedAccountsServer { .. }), "{error:?}");
    assert!(!error.can_continue());
    assert_eq!(d.h.emulator.counters_for("eu").device_token, 0);
}

#[tokio::test]
async fn interval_and_lifetime_in_milliseconds() {
    let d = Device::with(EmulatorConfig::new().device_times_in_milliseconds(true)).await;
    let flow = d.start_device().await;
    assert_eq!(flow.interval(), Duration::seconds(30));
    assert_eq!(flow.expires_at(), d.h.clock.now() + Duration::minutes(5));
    d.h.clock.advance(Duration::seconds(30));
    let (_flow, waiting) = pending(flow.poll_once().await);
    assert_eq!(waiting, Waiting::AuthorizationPending);
}

#[tokio::test]
async fn slow_down_lengthens_the_interval_and_resume_keeps_polling() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    // Two copies of one saved device authorization poll together, as two processes resuming it
    // would: the second poll within 30 seconds is told to slow down.
    let saved = serde_json::to_string(flow.pending()).unwrap();
    let twin = d.flow().resume_device(serde_json::from_str::<DeviceCodeIssued>(&saved).unwrap()).unwrap();
    d.h.clock.advance(Duration::seconds(30));
    let (flow, waiting) = pending(flow.poll_once().await);
    assert_eq!(waiting, Waiting::AuthorizationPending);
    let (twin, waiting) = pending(twin.poll_once().await);
    assert_eq!(waiting, Waiting::SlowDown);
    assert_eq!(twin.interval(), Duration::seconds(35), "slow_down adds five seconds");
    assert_eq!(twin.next_poll_at(), d.h.clock.now() + Duration::seconds(35));
    assert_eq!(d.polls(), 2);

    assert!(d.h.emulator.approve_device(flow.user_code(), BUILT_IN_USER));
    drop(flow);
    let (twin, waiting) = pending(twin.poll_once().await);
    assert_eq!((waiting, d.polls()), (Waiting::TooEarly, 2));
    d.h.clock.advance(Duration::seconds(35));
    let _session = authorized(twin.poll_once().await);
}

#[tokio::test]
async fn denial_ends_the_flow() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    assert!(d.h.emulator.deny_device(flow.user_code()));
    d.h.clock.advance(Duration::seconds(30));
    let error = flow.poll_once().await.expect_err("a denied device request fails");
    assert!(matches!(error.error(), Error::AuthorizationDenied { error, .. } if error == "access_denied"), "{error:?}");
    assert!(!error.can_continue());
}

#[tokio::test]
async fn expiry_by_the_clock_sends_nothing() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    d.h.clock.advance(Duration::minutes(5));
    let error = flow.poll_once().await.expect_err("an expired device code fails");
    assert!(matches!(error.error(), Error::DeviceCodeExpired), "{error:?}");
    assert_eq!(d.polls(), 0);
}

#[tokio::test]
async fn expiry_answered_by_the_server() {
    let d = Device::start().await;
    // The client's clock lags the server's: only the server knows the code has expired.
    let client_clock = ManualClock::new(d.h.clock.now());
    let flow = Flow::new(d.config(&client_clock), d.h.http.clone()).device_authorization().await.unwrap();
    client_clock.advance(Duration::seconds(30));
    d.h.clock.advance(Duration::minutes(6));
    let error = flow.poll_once().await.expect_err("the server says the code expired");
    assert!(matches!(error.error(), Error::DeviceCodeExpired), "{error:?}");
    assert_eq!(d.polls(), 1);
}

#[tokio::test]
async fn wait_polls_at_the_interval_until_approval() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    let user_code = flow.user_code().to_owned();
    let started = d.h.clock.now();
    let sleeper = MoveClock::new(&d.h.clock, |sleeps| {
        if sleeps == 3 {
            assert!(d.h.emulator.approve_device(&user_code, BUILT_IN_USER));
        }
    });
    let session = flow.wait_with(&sleeper).await.expect("the wait ends in approval");
    assert_eq!(d.polls(), 3, "pending twice, then approved");
    assert_eq!(d.h.clock.now() - started, Duration::seconds(90), "one poll every 30 seconds");
    assert!(session.tokens().refresh_token().is_some());
}

#[tokio::test]
async fn wait_stops_at_expiry() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    let sleeper = MoveClock::new(&d.h.clock, |_| {});
    let error = flow.wait_with(&sleeper).await.expect_err("nobody approves");
    assert!(matches!(error.error(), Error::DeviceCodeExpired), "{error:?}");
    // Polls at 30, 60, ..., 270 seconds; the code expires at 300, before the tenth poll.
    assert_eq!(d.polls(), 9);
}

#[tokio::test]
async fn a_dropped_wait_sends_nothing_more_and_the_saved_state_resumes() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    let saved = serde_json::to_string(flow.pending()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    // A sleeper that lets one poll happen, then never wakes: the wait is parked between polls.
    struct Parked<'a> {
        clock: MoveClock<'a>,
        parked: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    }
    impl Sleeper for Parked<'_> {
        fn sleep_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
            if self.clock.sleeps.load(Ordering::SeqCst) == 0 {
                return self.clock.sleep_until(at);
            }
            if let Some(tx) = self.parked.lock().unwrap().take() {
                let _ = tx.send(());
            }
            Box::pin(std::future::pending())
        }
    }
    let sleeper = Parked { clock: MoveClock::new(&d.h.clock, |_| {}), parked: std::sync::Mutex::new(Some(tx)) };
    tokio::select! {
        result = flow.wait_with(&sleeper) => panic!("the wait ended: {result:?}"),
        _ = rx => {}
    }
    // The wait future is dropped: the clock moves on and nothing polls.
    assert_eq!(d.polls(), 1);
    d.h.clock.advance(Duration::minutes(1));
    tokio::task::yield_now().await;
    assert_eq!(d.polls(), 1);

    let resumed = d.flow().resume_device(serde_json::from_str(&saved).unwrap()).unwrap();
    assert!(d.h.emulator.approve_device(resumed.user_code(), BUILT_IN_USER));
    let _session = authorized(resumed.poll_once().await);
    assert_eq!(d.polls(), 2);
}

#[tokio::test]
async fn a_pending_device_authorization_belongs_to_its_client() {
    let d = Device::start().await;
    let flow = d.start_device().await;
    let config = ClientConfig::new("1000.OTHER", d.endpoints()).clock(Arc::new(d.h.clock.clone()));
    let other = Flow::new(config, d.h.http.clone());
    assert!(matches!(other.resume_device(flow.into_pending()), Err(Error::ForeignPendingAuthorization)));
}

#[tokio::test]
async fn approval_is_saved_to_the_store_and_restored() {
    let d = Device::start().await;
    let store: Arc<dyn TokenStore> = Arc::new(MemoryStore::new());
    let flow = d.flow().with_store(store.clone(), "kiosk").device_authorization().await.unwrap();
    assert!(d.h.emulator.approve_device(flow.user_code(), BUILT_IN_USER));
    d.h.clock.advance(Duration::seconds(30));
    let session = authorized(flow.poll_once().await);
    let restored = d.flow().with_store(store, "kiosk").restore_from_store().await.unwrap().expect("saved tokens");
    assert!(restored.tokens().access_token().ct_eq(session.tokens().access_token()));
}
