//! The run's results: a terminal table, `report.md`, and `report.json` (whose fields are stable and
//! documented in `docs/conformance.md`, "Machine-readable output").

use std::fmt::Write as _;

use serde::Serialize;

/// The version of the JSON format; it changes only when a field is renamed or removed.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened to one scenario on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The library behaved as the clause requires.
    Pass,
    /// It did not, or the server did not let the scenario run.
    Fail,
    /// The scenario does not apply to the target, or needs something its description does not declare.
    NotApplicable,
    /// The target was not run (a runtime it needs is missing).
    Skipped,
}

impl Outcome {
    fn cell(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::NotApplicable => "n/a",
            Outcome::Skipped => "skipped",
        }
    }
}

/// One scenario on one target.
#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    /// The scenario's stable id.
    pub scenario: String,
    /// The clause it checks.
    pub clause: String,
    /// The target's name.
    pub target: String,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    pub duration_ms: u64,
    /// Why it failed, or why it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A server answering a MUST of an RFC with something else. The scenario may still pass: it checks
/// that the library classifies the answer usefully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deviation {
    /// The target's name.
    pub target: String,
    /// The scenario that saw it (`start` for what was seen while starting the target).
    pub scenario: String,
    /// The clause, e.g. `RFC 7636 4.6`.
    pub clause: String,
    /// What the clause requires.
    pub expected: String,
    /// What the server did.
    pub observed: String,
}

/// One target of the run.
#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    /// The target's name.
    pub name: String,
    /// The description file, if the target came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `ran`, `skipped` or `failed_to_start`.
    pub status: &'static str,
    /// How long starting it and running every scenario took.
    pub duration_ms: u64,
    /// How long starting it took (install included).
    pub start_ms: u64,
    /// Why it was skipped or did not start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One scenario of the catalogue.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioInfo {
    /// The stable id.
    pub id: &'static str,
    /// The clause it checks.
    pub clause: &'static str,
    /// What passing means.
    pub passing: &'static str,
}

/// Counts over the whole run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Scenarios that passed.
    pub passed: usize,
    /// Scenarios that failed.
    pub failed: usize,
    /// Scenarios that did not apply.
    pub not_applicable: usize,
    /// Scenarios on skipped targets.
    pub skipped: usize,
    /// Deviations recorded.
    pub deviations: usize,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// When the run started, `YYYY-MM-DD HH:MM UTC`.
    pub generated_at: String,
    /// The library version checked.
    pub library_version: &'static str,
    /// Counts.
    pub summary: Summary,
    /// The targets, in run order.
    pub targets: Vec<TargetRow>,
    /// The catalogue, in report order.
    pub scenarios: Vec<ScenarioInfo>,
    /// Every scenario on every target.
    pub results: Vec<ResultRow>,
    /// Every deviation, per target in run order.
    pub deviations: Vec<Deviation>,
}

impl Report {
    /// An empty report for `scenarios`.
    pub fn new(scenarios: Vec<ScenarioInfo>) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            generated_at: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            library_version: env!("CARGO_PKG_VERSION"),
            summary: Summary::default(),
            targets: Vec::new(),
            scenarios,
            results: Vec::new(),
            deviations: Vec::new(),
        }
    }

    /// Recomputes [`Report::summary`].
    pub fn summarize(&mut self) {
        let count = |o: Outcome| self.results.iter().filter(|r| r.outcome == o).count();
        self.summary = Summary {
            passed: count(Outcome::Pass),
            failed: count(Outcome::Fail),
            not_applicable: count(Outcome::NotApplicable),
            skipped: count(Outcome::Skipped),
            deviations: self.deviations.len(),
        };
    }

    /// How many scenarios failed.
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| r.outcome == Outcome::Fail).count()
    }

    fn outcome(&self, scenario: &str, target: &str) -> Option<&ResultRow> {
        self.results.iter().find(|r| r.scenario == scenario && r.target == target)
    }

    /// The table: scenarios down, targets across.
    pub fn table(&self, markdown: bool) -> String {
        let mut out = String::new();
        let width = self.scenarios.iter().map(|s| s.id.len()).max().unwrap_or(8).max(8);
        if markdown {
            let _ = write!(out, "| scenario | clause |");
            for t in &self.targets {
                let _ = write!(out, " {} |", t.name);
            }
            let _ = write!(out, "\n|---|---|");
            for _ in &self.targets {
                let _ = write!(out, "---|");
            }
            out.push('\n');
        } else {
            let _ = write!(out, "{:width$}", "scenario");
            for t in &self.targets {
                let _ = write!(out, "  {:>14}", t.name);
            }
            out.push('\n');
        }
        for scenario in &self.scenarios {
            if markdown {
                let _ = write!(out, "| `{}` | {} |", scenario.id, scenario.clause);
            } else {
                let _ = write!(out, "{:width$}", scenario.id);
            }
            for t in &self.targets {
                let mut cell = self.outcome(scenario.id, &t.name).map_or("-", |r| r.outcome.cell()).to_owned();
                if self.deviations.iter().any(|d| d.target == t.name && d.scenario == scenario.id) {
                    cell.push_str(" (dev)");
                }
                if markdown {
                    let _ = write!(out, " {cell} |");
                } else {
                    let _ = write!(out, "  {cell:>14}");
                }
            }
            out.push('\n');
        }
        if !markdown {
            let _ = write!(out, "{:width$}", "time");
            for t in &self.targets {
                let _ = write!(out, "  {:>14}", human(t.duration_ms));
            }
            out.push('\n');
        }
        out
    }

    /// The deviations of every target, one table per target.
    pub fn deviations_markdown(&self) -> String {
        let mut out = String::new();
        for t in &self.targets {
            let mine: Vec<&Deviation> = self.deviations.iter().filter(|d| d.target == t.name).collect();
            let _ = writeln!(out, "### {}\n", t.name);
            if t.status != "ran" {
                let _ = writeln!(out, "Not run.\n");
                continue;
            }
            if mine.is_empty() {
                let _ = writeln!(out, "None observed.\n");
                continue;
            }
            let _ = writeln!(out, "| scenario | clause | expected | observed |\n|---|---|---|---|");
            for d in mine {
                let _ = writeln!(out, "| `{}` | {} | {} | {} |", d.scenario, d.clause, d.expected, d.observed);
            }
            out.push('\n');
        }
        out
    }

    /// `report.md`.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Conformance report\n");
        let _ = writeln!(out, "Generated {} for zoho-oauth {}.", self.generated_at, self.library_version);
        let _ = writeln!(
            out,
            "A cell marked \"(dev)\" is a scenario during which the server deviated from the RFCs (see below).\n"
        );
        let _ = writeln!(out, "{}", self.table(true));
        let _ = writeln!(out, "| target | description | start | total | note |\n|---|---|---|---|---|");
        for t in &self.targets {
            let note = t.note.as_deref().map_or(String::new(), |r| format!("{}: {r}", t.status.replace('_', " ")));
            let source = t.source.as_deref().map_or(String::new(), |s| format!("`{s}`"));
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                t.name,
                source,
                human(t.start_ms),
                human(t.duration_ms),
                note
            );
        }
        let _ = writeln!(out, "\n## Deviations from the RFCs\n");
        let _ = writeln!(
            out,
            "Where a server answered a MUST of the RFCs with something else. The scenario still passes when the library classifies the answer usefully (a refused grant is reported as a refusal, not as a transient failure).\n"
        );
        out.push_str(&self.deviations_markdown());
        let failures: Vec<&ResultRow> = self.results.iter().filter(|r| r.message.is_some()).collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "## Failures and notes\n");
            for r in failures {
                let label = match r.outcome {
                    Outcome::NotApplicable => "not applicable: ",
                    Outcome::Skipped => "skipped: ",
                    _ => "",
                };
                let _ = writeln!(
                    out,
                    "- `{}` on {}: {label}{}",
                    r.scenario,
                    r.target,
                    r.message.as_deref().unwrap_or_default()
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "## Scenarios\n");
        for s in &self.scenarios {
            let _ = writeln!(out, "- `{}` ({}): passes when {}.", s.id, s.clause, s.passing);
        }
        out
    }
}

/// A duration for people: milliseconds under ten seconds, seconds above.
fn human(ms: u64) -> String {
    if ms < 10_000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}
