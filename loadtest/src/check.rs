//! Pass/fail checks for CI: `--expect 'p99<5ms,rate>=0.98'` (every condition must hold),
//! `--fail-if 'p99>5ms'` (the run fails when one holds), and `--strict`. A check that cannot be
//! evaluated (a rate check on a scenario with no target rate, a latency check with no samples)
//! fails with a line that says why, rather than passing quietly.

use std::fmt;

use crate::report::Report;

/// What a condition looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency quantile, in microseconds.
    Quantile(f64),
    /// The largest latency, in microseconds.
    Max,
    /// Achieved rate over target rate.
    Rate,
    /// Events per second in the measured window.
    PerSecond,
    /// Errors of the run.
    Errors,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

/// Whether a condition is a requirement or a failure rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Sense {
    /// `--expect`: the run fails unless the condition holds.
    Expect,
    /// `--fail-if`: the run fails when the condition holds.
    FailIf,
}

/// One condition of `--expect` or `--fail-if`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    sense: Sense,
    text: String,
    metric: Metric,
    op: Op,
    /// In the metric's unit (microseconds for latencies).
    value: f64,
}

/// The outcome of one check, as printed and written to JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) check: String,
    pub(crate) failed: bool,
    pub(crate) detail: String,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.failed { "FAILED" } else { "passed" };
        write!(f, "check {verdict}: {} ({})", self.check, self.detail)
    }
}

/// Parses `p99<5ms,rate>=0.98,errors<1`.
pub(crate) fn parse(spec: &str, sense: Sense) -> Result<Vec<Condition>, String> {
    spec.split(',').map(str::trim).filter(|c| !c.is_empty()).map(|c| parse_one(c, sense)).collect()
}

fn parse_one(text: &str, sense: Sense) -> Result<Condition, String> {
    let flag = match sense {
        Sense::Expect => "--expect",
        Sense::FailIf => "--fail-if",
    };
    let at = text
        .find(['<', '>'])
        .ok_or_else(|| format!("{flag} {text:?}: expected a comparison such as p99<5ms"))?;
    let (name, rest) = text.split_at(at);
    let (op, value) = match rest.as_bytes() {
        [b'<', b'=', ..] => (Op::Le, &rest[2..]),
        [b'>', b'=', ..] => (Op::Ge, &rest[2..]),
        [b'<', ..] => (Op::Lt, &rest[1..]),
        _ => (Op::Gt, &rest[1..]),
    };
    let name = name.trim();
    let metric = match name {
        "p50" => Metric::Quantile(0.5),
        "p90" => Metric::Quantile(0.9),
        "p99" => Metric::Quantile(0.99),
        "p99.9" => Metric::Quantile(0.999),
        "max" => Metric::Max,
        "rate" => Metric::Rate,
        "per_s" => Metric::PerSecond,
        "errors" => Metric::Errors,
        other => {
            return Err(format!(
                "{flag} {text:?}: unknown figure {other:?} (p50, p90, p99, p99.9, max, rate, per_s, errors)"
            ));
        }
    };
    let value = value.trim();
    let value = match metric {
        Metric::Quantile(_) | Metric::Max => parse_duration_us(value).ok_or_else(|| {
            format!("{flag} {text:?}: {value:?} is not a time like 500us, 5ms or 1.5s")
        })?,
        _ => value
            .parse::<f64>()
            .map_err(|_| format!("{flag} {text:?}: {value:?} is not a number"))?,
    };
    Ok(Condition { sense, text: text.to_owned(), metric, op, value })
}

/// `500us`, `5ms`, `1.5s` in microseconds; a unit is required.
fn parse_duration_us(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1e3)
    } else {
        (text.strip_suffix('s')?, 1e6)
    };
    number.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(|v| v * scale)
}

/// Evaluates the conditions against a finished run.
pub(crate) fn evaluate(conditions: &[Condition], report: &Report) -> Vec<Outcome> {
    conditions.iter().map(|c| evaluate_one(c, report)).collect()
}

fn evaluate_one(c: &Condition, report: &Report) -> Outcome {
    let h = &report.stats.latency;
    let actual = match c.metric {
        Metric::Quantile(_) | Metric::Max if h.is_empty() => {
            Err("no latency was measured in the window".to_owned())
        }
        Metric::Quantile(q) => Ok(h.value_at_quantile(q) as f64),
        Metric::Max => Ok(h.max() as f64),
        Metric::Rate => report
            .achieved_ratio()
            .ok_or_else(|| format!("the {} scenario has no target rate", report.scenario)),
        Metric::PerSecond => Ok(report.rate()),
        Metric::Errors => Ok(report.errors as f64),
    };
    let unit = if matches!(c.metric, Metric::Quantile(_) | Metric::Max) { " us" } else { "" };
    let check = match c.sense {
        Sense::Expect => format!("expect {}", c.text),
        Sense::FailIf => format!("fail if {}", c.text),
    };
    match actual {
        Err(why) => Outcome { check, failed: true, detail: why },
        Ok(v) => {
            let holds = match c.op {
                Op::Lt => v < c.value,
                Op::Le => v <= c.value,
                Op::Gt => v > c.value,
                Op::Ge => v >= c.value,
            };
            let failed = holds == (c.sense == Sense::FailIf);
            Outcome { check, failed, detail: format!("measured {v:.3}{unit}") }
        }
    }
}

/// How far below its target a run may fall before it is reported as having missed it.
pub(crate) const MISS_TOLERANCE: f64 = 0.05;

/// The `--strict` checks: the target rate met within 5 %, and every connection opened.
pub(crate) fn strict(report: &Report) -> Vec<Outcome> {
    let mut out = Vec::new();
    if let (Some(ratio), Some(target)) = (report.achieved_ratio(), report.target_per_s) {
        out.push(Outcome {
            check: format!("strict: rate within {:.0} % of the target", MISS_TOLERANCE * 100.0),
            failed: ratio < 1.0 - MISS_TOLERANCE,
            detail: format!(
                "target {target:.0}/s, achieved {:.0}/s = {:.1} %",
                report.rate(),
                ratio * 100.0
            ),
        });
    }
    if report.requested_connections > 0 {
        out.push(Outcome {
            check: "strict: every connection opened".to_owned(),
            failed: report.connections < report.requested_connections,
            detail: format!("{} of {}", report.connections, report.requested_connections),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_units() {
        let c = parse("p99>5ms, rate<0.98,errors>=1,p99.9<=1.5s,max>250us", Sense::FailIf).unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!((c[0].metric, c[0].op, c[0].value), (Metric::Quantile(0.99), Op::Gt, 5_000.0));
        assert_eq!((c[1].metric, c[1].op, c[1].value), (Metric::Rate, Op::Lt, 0.98));
        assert_eq!((c[2].metric, c[2].op), (Metric::Errors, Op::Ge));
        assert_eq!((c[3].metric, c[3].value), (Metric::Quantile(0.999), 1_500_000.0));
        assert_eq!((c[4].metric, c[4].value), (Metric::Max, 250.0));
    }

    #[test]
    fn bad_conditions_name_the_problem() {
        let e = Sense::Expect;
        assert!(parse("p99<5", e).unwrap_err().contains("not a time"));
        assert!(parse("p42<5ms", e).unwrap_err().contains("unknown figure"));
        assert!(parse("p99", e).unwrap_err().contains("expected a comparison"));
        assert!(parse("rate>=fast", e).unwrap_err().contains("not a number"));
    }
}
