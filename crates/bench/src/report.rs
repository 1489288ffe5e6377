//! The run's results as JSON, and the page `docs/benchmarks.md` rendered from them.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::common::Summary;
use crate::herd::{YUP_OAUTH2, ZOHO_OAUTH};
use crate::{cached, cross_process, encrypted, fleet, herd, postgres, refresh, store};

/// The file names under `target/bench/`.
pub const FILES: [&str; 9] = [
    "run.json",
    "cached.json",
    "herd.json",
    "refresh.json",
    "store.json",
    "cross_process.json",
    "encrypted.json",
    "postgres.json",
    "fleet.json",
];

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub run: Meta,
    pub cached: cached::Results,
    pub herd: herd::Results,
    pub refresh: refresh::Results,
    pub store: store::Results,
    pub cross_process: cross_process::Results,
    pub encrypted: encrypted::Results,
    pub postgres: postgres::Results,
    pub fleet: fleet::Results,
}

/// Where, when, with what and how long.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub generated_at: String,
    pub quick: bool,
    pub command: String,
    pub seconds: f64,
    /// `release`, or `debug` for a run from the tests.
    pub profile: String,
    pub machine: Machine,
    pub versions: Vec<(String, String)>,
    pub plan: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub os: String,
}

impl Machine {
    /// What Linux says about this machine; "unknown" for what it does not say.
    pub fn here() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let release = read("/proc/sys/kernel/osrelease");
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            os: format!("{} {}", std::env::consts::OS, release.trim()),
        }
    }
}

impl Report {
    /// Writes one JSON file per figure into `dir`.
    pub fn write_json(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, value: serde_json::Value| -> anyhow::Result<()> {
            std::fs::write(dir.join(name), serde_json::to_string_pretty(&value)? + "\n")?;
            Ok(())
        };
        let [run, cached, herd, refresh, store, cross_process, encrypted, postgres, fleet] = FILES;
        write(run, serde_json::to_value(&self.run)?)?;
        write(cached, serde_json::to_value(&self.cached)?)?;
        write(herd, serde_json::to_value(&self.herd)?)?;
        write(refresh, serde_json::to_value(&self.refresh)?)?;
        write(store, serde_json::to_value(&self.store)?)?;
        write(cross_process, serde_json::to_value(&self.cross_process)?)?;
        write(encrypted, serde_json::to_value(&self.encrypted)?)?;
        write(postgres, serde_json::to_value(&self.postgres)?)?;
        write(fleet, serde_json::to_value(&self.fleet)?)?;
        Ok(())
    }

    /// Reads back what [`write_json`](Self::write_json) wrote.
    pub fn read_json(dir: &Path) -> anyhow::Result<Report> {
        let read = |name: &str| -> anyhow::Result<serde_json::Value> {
            let text = std::fs::read_to_string(dir.join(name))
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.join(name).display()))?;
            Ok(serde_json::from_str(&text)?)
        };
        let [run, cached, herd, refresh, store, cross_process, encrypted, postgres, fleet] = FILES;
        Ok(Report {
            run: serde_json::from_value(read(run)?)?,
            cached: serde_json::from_value(read(cached)?)?,
            herd: serde_json::from_value(read(herd)?)?,
            refresh: serde_json::from_value(read(refresh)?)?,
            store: serde_json::from_value(read(store)?)?,
            cross_process: serde_json::from_value(read(cross_process)?)?,
            encrypted: serde_json::from_value(read(encrypted)?)?,
            postgres: serde_json::from_value(read(postgres)?)?,
            fleet: serde_json::from_value(read(fleet)?)?,
        })
    }

    /// The Markdown page; `chart` is the herd chart's path relative to the page.
    pub fn markdown(&self, chart: &str) -> String {
        let mut page = String::new();
        let out = &mut page;
        line(out, "# Benchmarks");
        line(out, "");
        line(
            out,
            "<!-- Generated by `cargo xtask bench` from target/bench/*.json: edit crates/bench/src/report.rs, not this page. -->",
        );
        line(out, "");
        out.push_str(include_str!("docs_intro.md"));
        self.run_section(out);
        self.glance_section(out);
        self.cached_section(out);
        self.herd_section(out, chart);
        self.refresh_section(out);
        self.store_section(out);
        self.cross_process_section(out);
        self.encrypted_section(out);
        self.postgres_section(out);
        self.fleet_section(out);
        out.push_str(include_str!("docs_method.md"));
        page
    }

    fn run_section(&self, out: &mut String) {
        let run = &self.run;
        let machine = &run.machine;
        line(out, "## This run");
        line(out, "");
        if run.quick {
            line(out, "**A `--quick` run: tiny counts that prove each benchmark works. Its figures mean nothing.**");
            line(out, "");
        }
        line(
            out,
            &format!("- Command: `{}` (measuring took {:.0} s, {} build).", run.command, run.seconds, run.profile),
        );
        line(out, &format!("- When: {}.", run.generated_at));
        line(
            out,
            &format!(
                "- Machine: {}, {} cores, {:.0} GiB, {}; shared with other builds while it ran, so absolute figures are noisy and only the ratios within this run mean anything.",
                machine.cpu, machine.cores, machine.memory_gib, machine.os
            ),
        );
        let versions: Vec<String> = run.versions.iter().map(|(name, version)| format!("{name} {version}")).collect();
        line(out, &format!("- Versions: {}.", versions.join(", ")));
        line(out, &format!("- Counts: {}.", run.plan));
        line(out, "");
    }

    fn glance_section(&self, out: &mut String) {
        line(out, "## At a glance");
        line(out, "");
        line(out, "| question | zoho-oauth | the alternative | ratio |");
        line(out, "|---|---|---|---|");
        let cached = |id: &str| self.cached.rows.iter().find(|r| r.id == id);
        if let (Some(ours), Some(yup), Some(floor)) =
            (cached("zoho_oauth"), cached("yup_oauth2"), cached("floor_guard"))
        {
            line(
                out,
                &format!(
                    "| cached token, one task (goal: at most 1.5× the floor) | {} ns ({} the floor's {} ns) | yup-oauth2 {} ns | yup-oauth2 takes {} as long |",
                    ns(ours.single.median),
                    ratio(ours.single.median, floor.single.median),
                    ns(floor.single.median),
                    ns(yup.single.median),
                    ratio(yup.single.median, ours.single.median)
                ),
            );
            line(
                out,
                &format!(
                    "| cached token, {} threads at once, per call per thread (goal: at most 1.5× the floor) | {} ns ({} the floor's {} ns) | yup-oauth2 {} ns | yup-oauth2 takes {} as long |",
                    self.cached.threads,
                    ns(ours.parallel.median),
                    ratio(ours.parallel.median, floor.parallel.median),
                    ns(floor.parallel.median),
                    ns(yup.parallel.median),
                    ratio(yup.parallel.median, ours.parallel.median)
                ),
            );
        }
        if let Some(n) = self.herd.rows.iter().map(|r| r.n).max() {
            for delay in self.herd_delays() {
                let find = |library: &str| {
                    self.herd.rows.iter().find(|r| r.library == library && r.n == n && r.delay_ms == delay)
                };
                if let (Some(ours), Some(yup)) = (find(ZOHO_OAUTH), find(YUP_OAUTH2)) {
                    line(
                        out,
                        &format!(
                            "| refresh requests when {n} tasks find the token expired (server answers in {delay} ms) | {} | yup-oauth2 {} | {} as many |",
                            count(&ours.refreshes_summary),
                            count(&yup.refreshes_summary),
                            ratio(yup.refreshes_summary.median, ours.refreshes_summary.median)
                        ),
                    );
                    line(
                        out,
                        &format!(
                            "| time until all {n} hold a token ({delay} ms server) | {} ms | yup-oauth2 {} ms | yup-oauth2 takes {} as long |",
                            ms(ours.time.median),
                            ms(yup.time.median),
                            ratio(yup.time.median, ours.time.median)
                        ),
                    );
                }
            }
        }
        let refresh = |id: &str| self.refresh.rows.iter().find(|r| r.id == id);
        if let (Some(ours), Some(oauth2), Some(bare)) =
            (refresh("zoho_oauth"), refresh("oauth2"), refresh("bare_reqwest"))
        {
            line(
                out,
                &format!(
                    "| one refresh round trip, instant server (goal: at most 1.05× a bare POST) | {} µs ({} a bare POST; sample by sample {}) | oauth2 {} µs ({} a bare POST; sample by sample {}) | {} oauth2 |",
                    us(ours.micros.median),
                    ratio(ours.micros.median, bare.micros.median),
                    ratio_spread(&ours.paired_ratio),
                    us(oauth2.micros.median),
                    ratio(oauth2.micros.median, bare.micros.median),
                    ratio_spread(&oauth2.paired_ratio),
                    ratio(ours.micros.median, oauth2.micros.median)
                ),
            );
        }
        let cross = |library: &str| self.cross_process.rows.iter().find(|r| r.library == library);
        if let (Some(ours), Some(yup)) = (cross(ZOHO_OAUTH), cross(YUP_OAUTH2)) {
            let summary = |values: &[u64]| Summary::of(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
            let (ours, yup) = (summary(&ours.refreshes), summary(&yup.refreshes));
            line(
                out,
                &format!(
                    "| refresh requests when two processes sharing a token file find it expired | {} | yup-oauth2 {} | {} as many |",
                    count(&ours),
                    count(&yup),
                    ratio(yup.median, ours.median)
                ),
            );
        }
        self.glance_stores(out);
        line(out, "");
    }

    /// The at-a-glance rows of the encrypted store, the PostgreSQL store and the fleet herd.
    fn glance_stores(&self, out: &mut String) {
        // Ours against the floor of the same operation: µs of each, and the ratio sample by sample.
        let pair = |rows: &[store::Row]| {
            let ours = rows.iter().find(|r| r.role == "ours")?;
            let floor = rows.iter().find(|r| r.role == "floor")?;
            Some((ours.micros.median, floor.micros.median, ratio_spread(&ours.paired_ratio)))
        };
        for (operation, rows) in [("save", &self.encrypted.save), ("load", &self.encrypted.load)] {
            if let Some((ours, floor, paired)) = pair(rows) {
                line(
                    out,
                    &format!(
                        "| encrypted file store, {operation} | {} µs | plain `FileStore` {} µs | {paired} |",
                        us(ours),
                        us(floor)
                    ),
                );
            }
        }
        if let Some(reason) = &self.postgres.skipped {
            line(out, &format!("| PostgreSQL store save and load, against the bare statement | {reason} | – | – |"));
        } else {
            for (operation, rows) in [("save", &self.postgres.save), ("load", &self.postgres.load)] {
                if let Some((ours, floor, paired)) = pair(rows) {
                    line(
                        out,
                        &format!(
                            "| PostgreSQL store, {operation} (goal: at most 1.5× the bare statement) | {} µs | bare statement through sqlx {} µs | {paired} |",
                            us(ours),
                            us(floor)
                        ),
                    );
                }
            }
        }
        if let Some(reason) = &self.fleet.skipped {
            line(
                out,
                &format!("| refresh requests per expiry, a fleet of processes on PostgreSQL | {reason} | – | – |"),
            );
        } else if let Some(row) = self.fleet.rows.iter().max_by_key(|r| r.processes * r.tasks_per_process) {
            let refreshes: Vec<f64> = row.refreshes.iter().map(|&r| r as f64).collect();
            line(
                out,
                &format!(
                    "| refresh requests when {} processes × {} tasks sharing a PostgreSQL store find the token expired (goal: 1) | {} | – | – |",
                    row.processes,
                    row.tasks_per_process,
                    count(&Summary::of(&refreshes))
                ),
            );
            line(
                out,
                &format!(
                    "| time until all {} hold a token ({} ms server) | {} ms | one worker, one task: {} ms | {} |",
                    row.processes * row.tasks_per_process,
                    self.fleet.delay_ms,
                    ms(row.time.median),
                    self.fleet.rows.first().map_or_else(|| "–".to_owned(), |lone| ms(lone.time.median)),
                    ratio_spread(&row.paired_ratio)
                ),
            );
        }
    }

    fn cached_section(&self, out: &mut String) {
        let threads = self.cached.threads;
        line(out, "## Cached token read");
        line(out, "");
        line(
            out,
            "The call every API request makes while the token is valid. The floor is the cheapest read of a shared token there is: an `arc_swap` guard, reading the token in place. An API that hands out an owned token also pays for the copy (second row); one that hands out an `Arc` pays for a reference count that every core writes to (third row), which is what makes it slow when all cores ask at once.",
        );
        line(out, "");
        line(
            out,
            &format!(
                "| what | 1 thread: ns per call, median (p10–p90) | × floor | {threads} threads at once: ns per call per thread | × floor |"
            ),
        );
        line(out, "|---|---|---|---|---|");
        let floor = self.cached.rows.iter().find(|r| r.id == "floor_guard");
        for row in &self.cached.rows {
            let (single_floor, parallel_floor) =
                floor.map_or((f64::NAN, f64::NAN), |f| (f.single.median, f.parallel.median));
            line(
                out,
                &format!(
                    "| {} | {} | {} | {} | {} |",
                    bold_if_ours(&row.role, &row.name),
                    spread(&row.single, ns),
                    ratio(row.single.median, single_floor),
                    spread(&row.parallel, ns),
                    ratio(row.parallel.median, parallel_floor)
                ),
            );
        }
        line(out, "");
        let samples = self.cached.rows.first().map_or(0, |r| r.single.samples);
        line(
            out,
            &format!(
                "Each figure is the median of {samples} samples of thousands of calls each; the contenders take turns sample by sample. With {threads} threads, every thread makes its calls after a common start and the slowest thread's time counts."
            ),
        );
        line(out, "");
    }

    fn herd_section(&self, out: &mut String, chart: &str) {
        line(out, "## The herd: N tasks at expiry");
        line(out, "");
        line(
            out,
            "N tasks ask for a token at the same moment, just after it expired, against a loopback token server that counts requests and answers at once or after 5 ms. Each round starts from a fresh client (no pooled connection) holding an expired token. The goal is one refresh request per expiry whatever N: every extra request spends Zoho's budget of ten access tokens per ten minutes per refresh token, and at N = 10 a library that refreshes once per caller has spent all of it in one expiry.",
        );
        line(out, "");
        line(
            out,
            "zoho-oauth lets one task refresh while the others wait for its result. yup-oauth2 holds no lock across the request, so every caller that starts before the first refresh has been stored sends its own: all of them when the server takes a few milliseconds, fewer when it answers at once and the first refresh lands while tasks are still starting.",
        );
        line(out, "");
        line(out, &format!("![Refresh requests and time until all N hold a token, against N]({chart})"));
        line(out, "");
        line(
            out,
            "| server delay | N | library | refresh requests per expiry: median (min–max) | time until all N hold a token: ms, median (p10–p90) | time × zoho-oauth |",
        );
        line(out, "|---|---|---|---|---|---|");
        for delay in self.herd_delays() {
            let mut sizes: Vec<usize> = self.herd.rows.iter().map(|r| r.n).collect();
            sizes.sort_unstable();
            sizes.dedup();
            for n in sizes {
                let ours = self.herd.rows.iter().find(|r| r.library == ZOHO_OAUTH && r.n == n && r.delay_ms == delay);
                for row in self.herd.rows.iter().filter(|r| r.n == n && r.delay_ms == delay) {
                    let role = if row.library == ZOHO_OAUTH { "ours" } else { "peer" };
                    line(
                        out,
                        &format!(
                            "| {delay} ms | {n} | {} | {} | {} | {} |",
                            bold_if_ours(role, &row.library),
                            count(&row.refreshes_summary),
                            spread(&row.time, ms),
                            ratio(row.time.median, ours.map_or(f64::NAN, |o| o.time.median))
                        ),
                    );
                }
            }
        }
        line(out, "");
        let rounds: Vec<String> = self
            .herd
            .rows
            .iter()
            .filter(|r| r.library == ZOHO_OAUTH && r.delay_ms == self.herd_delays().first().copied().unwrap_or(0))
            .map(|r| format!("{} at N = {}", r.refreshes.len(), r.n))
            .collect();
        line(
            out,
            &format!("Rounds per library and delay: {}; the libraries take turns round by round.", rounds.join(", ")),
        );
        line(out, "");
    }

    fn refresh_section(&self, out: &mut String) {
        line(out, "## One refresh round trip");
        line(out, "");
        line(
            out,
            "One refresh of the access token against a loopback token server that answers at once, over a pooled connection: the cost a library adds on top of the HTTP request itself. The floor is a bare reqwest POST of the same form that reads the body and parses nothing; `oauth2` is what zoho-oauth builds its requests with.",
        );
        line(out, "");
        line(
            out,
            "| what | µs per refresh, median (p10–p90) | × bare POST | × bare POST, sample by sample: median (p10–p90) |",
        );
        line(out, "|---|---|---|---|");
        let bare = self.refresh.rows.iter().find(|r| r.id == "bare_reqwest").map_or(f64::NAN, |r| r.micros.median);
        for row in &self.refresh.rows {
            line(
                out,
                &format!(
                    "| {} | {} | {} | {} |",
                    bold_if_ours(&row.role, &row.name),
                    spread(&row.micros, us),
                    ratio(row.micros.median, bare),
                    ratio_spread(&row.paired_ratio)
                ),
            );
        }
        line(out, "");
        let samples = self.refresh.rows.first().map_or(0, |r| r.micros.samples);
        line(
            out,
            &format!(
                "{samples} samples of {} refreshes each; the three take turns sample by sample, in one order and then the reverse, so that none always follows the same one. The last column divides each sample by the bare POST's sample of the same turn, taken a few hundred microseconds before or after it, which cancels the drifts in the machine's load; differences of a few percent are within this run's noise.",
                self.refresh.batch
            ),
        );
        line(out, "");
    }

    fn store_section(&self, out: &mut String) {
        line(out, "## The file store");
        line(out, "");
        line(
            out,
            &format!(
                "`FileStore` against the least any durable JSON token file must do, with the same {} bytes. A save returns only once the tokens would survive a power cut; the store also takes a lock file and re-reads the file so that processes writing different keys lose nothing.",
                self.store.file_bytes
            ),
        );
        line(out, "");
        line(out, "| operation | what | µs, median (p10–p90) | × bare | × bare, sample by sample: median (p10–p90) |");
        line(out, "|---|---|---|---|---|");
        for (operation, rows) in [("save (durable)", &self.store.save), ("load", &self.store.load)] {
            let bare = rows.iter().find(|r| r.role == "floor").map_or(f64::NAN, |r| r.micros.median);
            for row in rows {
                line(
                    out,
                    &format!(
                        "| {operation} | {} | {} | {} | {} |",
                        bold_if_ours(&row.role, &row.name),
                        spread(&row.micros, us),
                        ratio(row.micros.median, bare),
                        ratio_spread(&row.paired_ratio)
                    ),
                );
            }
        }
        line(out, "");
        let saves = self.store.save.first().map_or(0, |r| r.micros.samples);
        let loads = self.store.load.first().map_or(0, |r| r.micros.samples);
        line(
            out,
            &format!(
                "{saves} saves each, alternating; {loads} samples of {} loads each. Both sides run their file I/O on tokio's blocking pool, as async code must. The store's load parses straight into its typed token set, which is why it can beat a parse into a generic JSON value.",
                self.store.load_batch
            ),
        );
        line(out, "");
    }

    fn cross_process_section(&self, out: &mut String) {
        let results = &self.cross_process;
        line(out, "## Two processes, one token file");
        line(out, "");
        line(
            out,
            &format!(
                "{} processes (two runs of the bench binary) share one token file and ask for a token at the same instant just after it expired; the token server answers in {} ms. zoho-oauth uses `FileStore` with `Flow::with_store`; yup-oauth2 uses its own `persist_tokens_to_disk`. The goal is one refresh request per expiry.",
                if results.processes == 2 { "Two".to_owned() } else { results.processes.to_string() },
                results.delay_ms
            ),
        );
        line(out, "");
        line(
            out,
            "| library | refresh requests per expiry: median (min–max) | distinct tokens the two hold: median (min–max) | time until both hold a token: ms, median (p10–p90) |",
        );
        line(out, "|---|---|---|---|");
        for row in &results.rows {
            let role = if row.library == ZOHO_OAUTH { "ours" } else { "peer" };
            let distinct: Vec<f64> = row.distinct_tokens.iter().map(|&d| d as f64).collect();
            let refreshes: Vec<f64> = row.refreshes.iter().map(|&r| r as f64).collect();
            line(
                out,
                &format!(
                    "| {} | {} | {} | {} |",
                    bold_if_ours(role, &row.library),
                    count(&Summary::of(&refreshes)),
                    count(&Summary::of(&distinct)),
                    spread(&row.time, ms)
                ),
            );
        }
        line(out, "");
        for row in &results.rows {
            let failed: usize = row.failed.iter().sum();
            if failed > 0 {
                let rounds = row.failed.iter().filter(|&&f| f > 0).count();
                line(
                    out,
                    &format!(
                        "In {rounds} of {} rounds, {failed} {} process(es) failed in all: {} rewrites its token file in place, and a process that reads it while the other is writing it fails to parse it. Those rounds' counts and times cover the processes that succeeded.",
                        row.failed.len(),
                        row.library,
                        row.library
                    ),
                );
                line(out, "");
            }
        }
        let rounds = results.rows.first().map_or(0, |r| r.refreshes.len());
        line(
            out,
            &format!(
                "{rounds} rounds per library, each on a new token file. The children restore their tokens first and then wait for an agreed wall-clock instant, so both ask within about a millisecond of each other; the time counts from that instant. zoho-oauth's second process waits on the store's lock while the first refreshes and saves, then finds the new tokens in the file, which is why it takes a little longer than two independent refreshes."
            ),
        );
        line(out, "");
    }

    fn encrypted_section(&self, out: &mut String) {
        let results = &self.encrypted;
        line(out, "## The encrypted file store");
        line(out, "");
        line(
            out,
            &format!(
                "`EncryptedStore<FileStore>` (feature `encryption`: each token set sealed with XChaCha20-Poly1305 under the caller's key) against the plain `FileStore`, in the same directory, taking turns. The file grows from {} to {} bytes. What encryption at rest adds is the difference; the durable save is dominated by its two `fsync`s either way.",
                results.plain_bytes, results.encrypted_bytes
            ),
        );
        line(out, "");
        store_table(out, "× `FileStore`", [("save (durable)", &results.save), ("load", &results.load)]);
        let saves = results.save.first().map_or(0, |r| r.micros.samples);
        let loads = results.load.first().map_or(0, |r| r.micros.samples);
        line(
            out,
            &format!(
                "{saves} saves each, alternating; {loads} samples of {} loads each. The encrypted load is checked to give back the saved access token.",
                results.load_batch
            ),
        );
        line(out, "");
    }

    fn postgres_section(&self, out: &mut String) {
        let results = &self.postgres;
        line(out, "## The PostgreSQL store");
        line(out, "");
        if let Some(reason) = &results.skipped {
            line(
                out,
                &format!(
                    "**{reason}.** Set `ZOHO_OAUTH_BENCH_POSTGRES_URL` (or `ZOHO_OAUTH_TEST_POSTGRES_URL`) to a database the benchmark may create schemas in, and run `cargo xtask bench` again."
                ),
            );
            line(out, "");
            return;
        }
        line(
            out,
            &format!(
                "`PostgresStore` (crate `zoho-oauth-store-postgres`) against the bare statements that move the same bytes ({} bytes of token JSON, the same key hash and key JSON, read back from the store's own row) through the same driver, sqlx, to the same database ({}), into a table of their own with the same key, JSON and revision columns. The goal is that a store operation costs at most 1.5 times the bare statement. The floor is the bare statement through a sqlx pool built with sqlx's defaults, which, like the store's pool, checks each connection before handing it out (one extra round trip); the second row is the same statement on one connection held throughout, the least any program can pay.",
                results.tokens_bytes,
                results.server.as_deref().map_or("unknown server", |v| v.split(" on ").next().unwrap_or(v))
            ),
        );
        line(out, "");
        line(
            out,
            "The store's save is an upsert that also takes a revision from a sequence and clears the refresh state; its update is a compare-and-swap on the revision that writes the refresh state's columns; its load decodes the row into typed tokens, state and revision. It hashes the key (SHA-256) and serializes the tokens on every call.",
        );
        line(out, "");
        store_table(
            out,
            "× bare through a pool",
            [("save (upsert)", &results.save), ("update (compare-and-swap)", &results.update), ("load", &results.load)],
        );
        let saves = results.save.first().map_or(0, |r| r.micros.samples);
        let loads = results.load.first().map_or(0, |r| r.micros.samples);
        line(
            out,
            &format!(
                "{saves} saves and {saves} updates each, the three taking turns; {loads} samples of {} loads each. The last column divides each sample by the pooled bare statement's sample of the same turn. The server was at `{}`, with `synchronous_commit = {}`{}.",
                results.load_batch,
                results.host.as_deref().unwrap_or("an unknown host"),
                results.synchronous_commit.as_deref().unwrap_or("unknown"),
                if results.synchronous_commit.as_deref() == Some("on") {
                    " (every write waits for its WAL flush, on both sides)"
                } else {
                    ""
                }
            ),
        );
        line(out, "");
    }

    fn fleet_section(&self, out: &mut String) {
        let results = &self.fleet;
        line(out, "## The fleet herd on PostgreSQL");
        line(out, "");
        if let Some(reason) = &results.skipped {
            line(
                out,
                &format!(
                    "**{reason}.** Set `ZOHO_OAUTH_BENCH_POSTGRES_URL` (or `ZOHO_OAUTH_TEST_POSTGRES_URL`) and run `cargo xtask bench` again."
                ),
            );
            line(out, "");
            return;
        }
        line(
            out,
            &format!(
                "P worker processes (runs of the bench binary) with T tasks each share one `PostgresStore` (`Flow::with_store`) holding a token that expired a second ago; every task calls `access_token()` at one agreed wall-clock instant, against the loopback token server answering in {} ms. The goal is one refresh request per expiry whatever P and T: the tasks of one worker wait for each other, the workers wait on the store's advisory lock, and the waiters read the tokens the first one saved. The baseline is one worker with one task, on the same store and server, in turns with the herds: the time one refresh through the store takes (lock connection, load, refresh, update, unlock).",
                results.delay_ms
            ),
        );
        line(out, "");
        line(
            out,
            "| processes × tasks | refresh requests per expiry: median (min–max) | distinct tokens all tasks hold: median (min–max) | time until all hold a token: ms, median (p10–p90) | × one worker, round by round: median (p10–p90) |",
        );
        line(out, "|---|---|---|---|---|");
        for row in &results.rows {
            let refreshes: Vec<f64> = row.refreshes.iter().map(|&r| r as f64).collect();
            let distinct: Vec<f64> = row.distinct_tokens.iter().map(|&d| d as f64).collect();
            let shape = format!("{} × {}", row.processes, row.tasks_per_process);
            let shape = if row.processes * row.tasks_per_process == 1 { format!("{shape} (baseline)") } else { shape };
            line(
                out,
                &format!(
                    "| {shape} | {} | {} | {} | {} |",
                    count(&Summary::of(&refreshes)),
                    count(&Summary::of(&distinct)),
                    spread(&row.time, ms),
                    ratio_spread(&row.paired_ratio)
                ),
            );
        }
        line(out, "");
        let rounds = results.rows.first().map_or(0, |r| r.refreshes.len());
        line(
            out,
            &format!(
                "{rounds} rounds per shape, each from a freshly saved expired token. The workers restore their session (and so open a pooled connection) before the agreed instant; the time counts from that instant until the last task of the last worker holds its token."
            ),
        );
        line(out, "");
    }

    fn herd_delays(&self) -> Vec<u64> {
        let mut delays: Vec<u64> = self.herd.rows.iter().map(|r| r.delay_ms).collect();
        delays.sort_unstable();
        delays.dedup();
        delays
    }
}

/// A table of store operations: each row's time, and its ratio to the operation's floor.
fn store_table<'a>(
    out: &mut String,
    against: &str,
    operations: impl IntoIterator<Item = (&'a str, &'a Vec<store::Row>)>,
) {
    line(
        out,
        &format!(
            "| operation | what | µs, median (p10–p90) | {against} | {against}, sample by sample: median (p10–p90) |"
        ),
    );
    line(out, "|---|---|---|---|---|");
    for (operation, rows) in operations {
        let floor = rows.iter().find(|r| r.role == "floor").map_or(f64::NAN, |r| r.micros.median);
        for row in rows {
            line(
                out,
                &format!(
                    "| {operation} | {} | {} | {} | {} |",
                    bold_if_ours(&row.role, &row.name),
                    spread(&row.micros, us),
                    ratio(row.micros.median, floor),
                    ratio_spread(&row.paired_ratio)
                ),
            );
        }
    }
    line(out, "");
}

fn line(out: &mut String, text: &str) {
    let _ = writeln!(out, "{text}");
}

fn bold_if_ours(role: &str, name: &str) -> String {
    if role == "ours" { format!("**{name}**") } else { name.to_owned() }
}

fn ns(value: f64) -> String {
    if value < 100.0 { format!("{value:.1}") } else { format!("{value:.0}") }
}

fn us(value: f64) -> String {
    if value < 100.0 { format!("{value:.1}") } else { format!("{value:.0}") }
}

fn ms(value: f64) -> String {
    if value < 10.0 { format!("{value:.2}") } else { format!("{value:.1}") }
}

fn spread(summary: &Summary, unit: fn(f64) -> String) -> String {
    format!("{} ({}–{})", unit(summary.median), unit(summary.p10), unit(summary.p90))
}

fn ratio(value: f64, base: f64) -> String {
    if !(value.is_finite() && base.is_finite()) || base <= 0.0 {
        return "–".to_owned();
    }
    let r = value / base;
    if r >= 10.0 { format!("{r:.0}×") } else { format!("{r:.2}×") }
}

/// A count summary: the median, with the range when the rounds differed.
fn count(summary: &Summary) -> String {
    if (summary.max - summary.min).abs() < f64::EPSILON {
        format!("{:.0} (every round)", summary.median)
    } else {
        format!("{:.0} ({:.0}–{:.0})", summary.median, summary.min, summary.max)
    }
}

fn ratio_spread(summary: &Summary) -> String {
    if summary.samples == 0 {
        return "–".to_owned();
    }
    format!("{:.3}× ({:.3}–{:.3})", summary.median, summary.p10, summary.p90)
}
