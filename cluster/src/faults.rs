//! Fault schedules (`timectl faults run FILE`): one action per line,
//!
//! ```text
//! # comments and blank lines are ignored
//! at 30s kill node3
//! at 35s start node3
//! at 40s pause random          # a node picked with --seed
//! at 42s kill proposer          # the current round's proposer, when the step runs
//! at 47s start proposer         # the node the last `proposer` step hit
//! at 45s partition node1,node2 / node3,node4,node5
//! at 50s cut node5-node1       # connections closed, new ones refused
//! at 60s heal
//! at 70s delay node2 200 50    # ms, then optional jitter ms
//! at 80s loss 5 node1          # percent; no target = every link
//! at 90s bandwidth 100000 node4-node5
//! ```
//!
//! Times are offsets from the start (`500ms`, `30s`, `2m`). Targets for link
//! faults: a node (every link to and from it), `A-B` (both directions
//! between A and B), or nothing (every link). `random` picks a node with the
//! seed, so a schedule replays exactly. `proposer` is resolved when the
//! step runs: the proposer of the round the nodes are in (asked over RPC);
//! `start` and `resume` of `proposer` act on the node an earlier `proposer`
//! step hit, so `kill proposer` … `start proposer` restarts the same node.

use std::cell::Cell;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::proxy::LinkFaults;

/// One scheduled action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Offset from the start.
    pub at: Duration,
    /// What to do.
    pub action: Action,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// A node lifecycle action: start, stop, restart, kill, pause, resume.
    Node {
        /// The verb.
        verb: String,
        /// The node.
        node: String,
    },
    /// Cut the links between groups.
    Partition {
        /// Node names per group.
        groups: Vec<Vec<String>>,
    },
    /// Clear every fault.
    Heal,
    /// Set faults on links.
    Links {
        /// Directed links (from, to).
        links: Vec<(String, String)>,
        /// The faults.
        faults: LinkFaults,
    },
}

/// A schedule line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ScheduleError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column of the word that is wrong.
    pub column: usize,
    /// What is wrong, naming the expected form.
    pub message: String,
}

/// The target resolved when the step runs: the current proposer.
pub const PROPOSER: &str = "proposer";

/// Every directed link a target names, for a cluster of `nodes`.
pub fn links_for(target: Option<&str>, nodes: &[String]) -> Result<Vec<(String, String)>, String> {
    let known = |name: &str| -> Result<(), String> {
        if nodes.iter().any(|n| n == name) {
            Ok(())
        } else {
            Err(format!("no node named {name:?} (this cluster has {})", nodes.join(", ")))
        }
    };
    let mut links = Vec::new();
    match target {
        None | Some("all") => {
            for a in nodes {
                for b in nodes {
                    if a != b {
                        links.push((a.clone(), b.clone()));
                    }
                }
            }
        }
        Some(pair) if pair.contains('-') => {
            let (a, b) = pair.split_once('-').unwrap_or((pair, pair));
            known(a)?;
            known(b)?;
            if a == b {
                return Err(format!("link {pair:?} names one node twice"));
            }
            links.push((a.to_string(), b.to_string()));
            links.push((b.to_string(), a.to_string()));
        }
        Some(node) => {
            known(node)?;
            for other in nodes.iter().filter(|n| *n != node) {
                links.push((node.to_string(), other.clone()));
                links.push((other.clone(), node.to_string()));
            }
        }
    }
    Ok(links)
}

/// Parses `A,B / C,D,E` into groups, refusing a node named twice.
pub fn parse_partition(text: &str, nodes: &[String]) -> Result<Vec<Vec<String>>, String> {
    let mut groups = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for side in text.split('/') {
        let group: Vec<String> =
            side.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if group.is_empty() {
            return Err(format!(
                "empty side in partition {text:?} (expected like node1,node2 / node3,node4)"
            ));
        }
        for name in &group {
            if !nodes.contains(name) {
                return Err(format!(
                    "no node named {name:?} (this cluster has {})",
                    nodes.join(", ")
                ));
            }
            if !seen.insert(name.clone()) {
                return Err(format!(
                    "{name} is named twice in the partition; each node belongs to one side"
                ));
            }
        }
        groups.push(group);
    }
    if groups.len() < 2 {
        return Err(format!("a partition needs at least two sides separated by '/', got {text:?}"));
    }
    Ok(groups)
}

/// Parses a schedule for a cluster of `nodes`, resolving `random` with `seed`.
pub fn parse_schedule(text: &str, nodes: &[String], seed: u64) -> Result<Vec<Step>, ScheduleError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut steps = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        let columns = word_columns(raw);
        // The word an error points at: 0 `at`, 1 the time, 2 the action, 3 on its arguments.
        let focus = Cell::new(0usize);
        let err = |message: String| ScheduleError {
            line,
            column: columns.get(focus.get()).copied().unwrap_or(1),
            message,
        };
        if words.len() < 3 || words[0] != "at" {
            return Err(err(format!("expected `at <time> <action> …`, got {content:?}")));
        }
        focus.set(1);
        let at = humantime::parse_duration(words[1]).map_err(|e| {
            err(format!("bad time {:?}: {e} (use 500ms, 30s, 1.5s or 2m)", words[1]))
        })?;
        let mut resolve = |name: &str| -> Result<String, ScheduleError> {
            focus.set(words.iter().position(|w| *w == name).unwrap_or(3));
            if name == "random" {
                return Ok(nodes[rng.random_range(0..nodes.len())].clone());
            }
            if name == PROPOSER {
                return Ok(PROPOSER.to_string());
            }
            if nodes.iter().any(|n| n == name) {
                Ok(name.to_string())
            } else {
                Err(err(format!("no node named {name:?} (this cluster has {})", nodes.join(", "))))
            }
        };
        let verb = words[2];
        let rest = &words[3..];
        focus.set(if rest.is_empty() { 2 } else { 3 });
        let action = match verb {
            "start" | "stop" | "restart" | "kill" | "pause" | "resume" => {
                let [node] = rest else { return Err(err(format!("`{verb}` takes one node"))) };
                Action::Node { verb: verb.to_string(), node: resolve(node)? }
            }
            "heal" => Action::Heal,
            "cut" => {
                let [target] = rest else {
                    return Err(err("`cut` takes a node or a pair A-B".into()));
                };
                let target =
                    if *target == "random" { resolve(target)? } else { target.to_string() };
                Action::Links {
                    links: links_for(Some(&target), nodes).map_err(err)?,
                    faults: LinkFaults { cut: true, ..LinkFaults::default() },
                }
            }
            "partition" => {
                let spec = rest.join(" ");
                Action::Partition { groups: parse_partition(&spec, nodes).map_err(err)? }
            }
            "delay" | "loss" | "bandwidth" => {
                let number = rest.first().ok_or_else(|| err(format!("`{verb}` needs a value")))?;
                let (faults, target) = match verb {
                    "delay" => {
                        // delay [TARGET] MS [JITTER]: the target comes first when it is a name.
                        let (target, values) = if number.parse::<u64>().is_err() {
                            (Some(*number), &rest[1..])
                        } else {
                            (None, rest)
                        };
                        let ms: u64 = values
                            .first()
                            .and_then(|v| v.parse().ok())
                            .ok_or_else(|| err("delay needs milliseconds".into()))?;
                        let jitter: u64 = values.get(1).and_then(|v| v.parse().ok()).unwrap_or(0);
                        (
                            LinkFaults { delay_ms: ms, jitter_ms: jitter, ..LinkFaults::default() },
                            target,
                        )
                    }
                    "loss" => {
                        let pct: f64 = number
                            .parse()
                            .ok()
                            .filter(|p| (0.0..=100.0).contains(p))
                            .ok_or_else(|| err("loss needs a percentage 0-100".into()))?;
                        (
                            LinkFaults { loss_pct: pct, ..LinkFaults::default() },
                            rest.get(1).copied(),
                        )
                    }
                    _ => {
                        let bps: u64 =
                            number.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                                err("bandwidth needs bytes per second > 0".into())
                            })?;
                        (
                            LinkFaults { bandwidth_bps: Some(bps), ..LinkFaults::default() },
                            rest.get(1).copied(),
                        )
                    }
                };
                let target = match target {
                    Some("random") => Some(resolve("random")?),
                    other => other.map(str::to_string),
                };
                Action::Links { links: links_for(target.as_deref(), nodes).map_err(err)?, faults }
            }
            other => {
                focus.set(2);
                return Err(err(format!(
                    "unknown action {other:?} (start, stop, restart, kill, pause, resume, partition, cut, heal, delay, loss, bandwidth)"
                )));
            }
        };
        steps.push(Step { at, action });
    }
    steps.sort_by_key(|s| s.at);
    Ok(steps)
}

/// The 1-based column of each whitespace-separated word of `line`.
fn word_columns(line: &str) -> Vec<usize> {
    let mut columns = Vec::new();
    let mut in_word = false;
    for (column, c) in line.chars().enumerate() {
        if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            in_word = true;
            columns.push(column + 1);
        }
    }
    columns
}

/// A step as one line of text (printed and logged).
pub fn describe(step: &Step) -> String {
    let what = match &step.action {
        Action::Node { verb, node } => format!("{verb} {node}"),
        Action::Partition { groups } => {
            format!(
                "partition {}",
                groups.iter().map(|g| g.join(",")).collect::<Vec<_>>().join(" / ")
            )
        }
        Action::Heal => "heal".into(),
        Action::Links { links, faults } => format!("faults {faults:?} on {} link(s)", links.len()),
    };
    format!("at {:.1}s {what}", step.at.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes() -> Vec<String> {
        (1..=5).map(|i| format!("node{i}")).collect()
    }

    #[test]
    fn a_schedule_parses_in_time_order() {
        let text = "# demo\nat 45s partition node1,node2 / node3,node4,node5\nat 30s kill node3\nat 1m heal\nat 500ms delay node2 200 50\n";
        let steps = parse_schedule(text, &nodes(), 1).unwrap();
        assert_eq!(steps.len(), 4);
        assert_eq!(steps[0].at, Duration::from_millis(500));
        assert!(
            matches!(&steps[1].action, Action::Node { verb, node } if verb == "kill" && node == "node3")
        );
        assert!(
            matches!(&steps[0].action, Action::Links { links, faults } if links.len() == 8 && faults.delay_ms == 200 && faults.jitter_ms == 50)
        );
    }

    #[test]
    fn proposer_is_kept_for_the_runner_to_resolve() {
        let steps =
            parse_schedule("at 1s kill proposer\nat 3s start proposer", &nodes(), 0).unwrap();
        assert!(
            steps
                .iter()
                .all(|s| matches!(&s.action, Action::Node { node, .. } if node == PROPOSER))
        );
    }

    #[test]
    fn cut_takes_one_link_or_a_node() {
        let steps = parse_schedule("at 1s cut node5-node1\nat 2s cut node2", &nodes(), 0).unwrap();
        assert!(
            matches!(&steps[0].action, Action::Links { links, faults } if links.len() == 2 && faults.cut)
        );
        assert!(
            matches!(&steps[1].action, Action::Links { links, faults } if links.len() == 8 && faults.cut)
        );
        let error = parse_schedule("at 1s cut", &nodes(), 0).unwrap_err();
        assert!(error.to_string().contains("`cut` takes a node or a pair A-B"), "{error}");
    }

    #[test]
    fn random_is_seeded() {
        let a = parse_schedule("at 1s kill random", &nodes(), 7).unwrap();
        let b = parse_schedule("at 1s kill random", &nodes(), 7).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn errors_name_the_line_and_the_problem() {
        let e = parse_schedule("at 1s kill node3\nat soon heal", &nodes(), 0).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("bad time"), "{e}");
        assert_eq!(e.column, 4, "the time: {e}");
        let e = parse_schedule("at 1s kill node9", &nodes(), 0).unwrap_err();
        assert!(e.message.contains("node9"), "{e}");
        assert_eq!(e.column, 12, "the node: {e}");
        let e = parse_schedule("\n  at 2s  explode node1", &nodes(), 0).unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "the action: {e}");
        assert!(e.to_string().starts_with("line 2, column 10: unknown action \"explode\""), "{e}");
        let e = parse_schedule("at 1s partition node1 / node1,node2", &nodes(), 0).unwrap_err();
        assert!(e.message.contains("twice"), "{e}");
    }

    #[test]
    fn link_targets() {
        assert_eq!(links_for(None, &nodes()).unwrap().len(), 20);
        assert_eq!(links_for(Some("node1"), &nodes()).unwrap().len(), 8);
        assert_eq!(links_for(Some("node1-node2"), &nodes()).unwrap().len(), 2);
        assert!(links_for(Some("node1-node1"), &nodes()).is_err());
    }
}
