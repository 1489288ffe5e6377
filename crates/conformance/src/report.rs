//! The run's results: a terminal table, `report.md`, `report.json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenarios::Scenario;

/// What happened to one scenario on one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    NotApplicable,
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

#[derive(Debug, Clone, Serialize)]
pub struct ResultRow {
    pub scenario: &'static str,
    pub clause: &'static str,
    pub target: &'static str,
    pub outcome: Outcome,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetRow {
    pub name: &'static str,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub library_version: &'static str,
    pub targets: Vec<TargetRow>,
    pub results: Vec<ResultRow>,
}

impl Report {
    pub fn failures(&self) -> usize {
        self.results.iter().filter(|r| r.outcome == Outcome::Fail).count()
    }

    fn outcome(&self, scenario: &str, target: &str) -> Option<&ResultRow> {
        self.results.iter().find(|r| r.scenario == scenario && r.target == target)
    }

    /// The table: scenarios down, targets across.
    pub fn table(&self, catalogue: &[Scenario], markdown: bool) -> String {
        let mut out = String::new();
        let width = catalogue.iter().map(|s| s.id.len()).max().unwrap_or(8).max(8);
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
        for scenario in catalogue {
            if markdown {
                let _ = write!(out, "| `{}` | {} |", scenario.id, scenario.clause);
            } else {
                let _ = write!(out, "{:width$}", scenario.id);
            }
            for t in &self.targets {
                let cell = self.outcome(scenario.id, t.name).map_or("-", |r| r.outcome.cell());
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

    pub fn markdown(&self, catalogue: &[Scenario]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Conformance report\n");
        let _ = writeln!(out, "Generated {} for zoho-oauth {}.\n", self.generated_at, self.library_version);
        let _ = writeln!(out, "{}", self.table(catalogue, true));
        let _ = writeln!(out, "| target | time | note |\n|---|---|---|");
        for t in &self.targets {
            let note = t.skipped.as_deref().map_or(String::new(), |r| format!("skipped: {r}"));
            let _ = writeln!(out, "| {} | {} | {} |", t.name, human(t.duration_ms), note);
        }
        let failures: Vec<&ResultRow> = self.results.iter().filter(|r| r.message.is_some()).collect();
        if !failures.is_empty() {
            let _ = writeln!(out, "\n## Failures and notes\n");
            for r in failures {
                let _ =
                    writeln!(out, "- `{}` on {}: {}", r.scenario, r.target, r.message.as_deref().unwrap_or_default());
            }
        }
        let _ = writeln!(out, "\n## Scenarios\n");
        for s in catalogue {
            let _ = writeln!(out, "- `{}` ({}): passes when {}.", s.id, s.clause, s.passing);
        }
        out
    }
}

/// A duration for people: milliseconds under ten seconds, seconds above.
fn human(ms: u64) -> String {
    if ms < 10_000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1000.0) }
}
