//! Graph checks: inputs that name no stage, port type mismatches, cycles, no source or sink,
//! outputs nobody reads.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::{Diagnostic, Diagnostics, ParsedStage, backticked, did_you_mean};
use crate::message::PortKind;
use crate::registry::{Registry, Role};

pub(crate) fn check(
    registry: &Registry,
    stages: &[ParsedStage],
    stages_span: Range<usize>,
    diags: &mut Diagnostics,
) {
    let by_id: BTreeMap<&str, &ParsedStage> = stages.iter().map(|s| (s.id.as_str(), s)).collect();
    let ids: Vec<&str> = stages.iter().map(|s| s.id.as_str()).collect();
    let any_unresolved = stages.iter().any(|s| s.unresolved);
    // An input that names no stage (or an `inputs` that did not parse) makes its real
    // upstream look unconsumed: no warning about that on top of the error.
    let mut dangling = stages.iter().any(|s| s.inputs_invalid);

    for st in stages {
        match st.role {
            Some(Role::Source) => {
                if let Some(span) = &st.inputs_key_span {
                    diags.push(
                        Diagnostic::error(
                            format!("stage `{}` is a source and takes no inputs", st.id),
                            Some(span.clone()),
                        )
                        .label("sources have no inputs")
                        .help("remove `inputs` from this stage"),
                    );
                }
                if let Some(span) = &st.queue_key_span {
                    diags.push(
                        Diagnostic::error(
                            format!("stage `{}` is a source and has no input queue", st.id),
                            Some(span.clone()),
                        )
                        .label("a queue belongs to the stage that reads")
                        .help("move `queue` to the stages that list this one in their `inputs`"),
                    );
                }
            }
            Some(Role::Transform | Role::Sink) if st.inputs.is_empty() && !st.inputs_invalid => {
                let want = st.input_kind.unwrap_or(PortKind::Any);
                let candidates: Vec<&str> = stages
                    .iter()
                    .filter(|u| u.id != st.id && u.output_kind.is_some_and(|k| want.accepts(k)))
                    .map(|u| u.id.as_str())
                    .collect();
                let help = match candidates.first() {
                    Some(first) => format!(
                        "add `inputs = [\"{first}\"]` (stages here that produce {}: {})",
                        phrase(want),
                        backticked(candidates.iter().copied())
                    ),
                    None => format!(
                        "add `inputs = [\"...\"]` naming a stage that produces {}",
                        phrase(want)
                    ),
                };
                diags.push(
                    Diagnostic::error(
                        format!("stage `{}` has no inputs", st.id),
                        Some(st.id_span.clone()),
                    )
                    .label(format!("takes {}, but reads from no stage", phrase(want)))
                    .help(help),
                );
            }
            _ => {}
        }

        let mut seen = BTreeSet::new();
        for (name, span) in &st.inputs {
            if !seen.insert(name.as_str()) {
                diags.push(
                    Diagnostic::error(
                        format!("`{name}` is listed twice in the inputs of `{}`", st.id),
                        Some(span.clone()),
                    )
                    .label("listed again here")
                    .help("list each input stage once"),
                );
                continue;
            }
            let Some(up) = by_id.get(name.as_str()) else {
                dangling = true;
                let others: Vec<&str> = ids.iter().copied().filter(|i| *i != st.id).collect();
                diags.push(
                    Diagnostic::error(
                        format!(
                            "stage `{}` reads from `{name}`, which is not a stage in this file",
                            st.id
                        ),
                        Some(span.clone()),
                    )
                    .label("no stage has this id")
                    .maybe_help(
                        did_you_mean(name, others.iter().copied())
                            .map(|s| format!("did you mean `{s}`?")),
                    )
                    .help(format!("stages in this file: {}", backticked(others))),
                );
                continue;
            };
            if up.id == st.id {
                continue; // reported as a cycle below
            }
            if up.role == Some(Role::Sink) {
                diags.push(
                    Diagnostic::error(
                        format!(
                            "stage `{}` reads from `{name}`, a sink with no output",
                            st.id
                        ),
                        Some(span.clone()),
                    )
                    .label("sinks produce nothing")
                    .help(format!("read from the stage that feeds `{name}` instead")),
                );
                continue;
            }
            // A stage whose config could not be read has its type's ports, not its own:
            // checking them would only add follow-on errors.
            if let (Some(produced), Some(taken)) = (up.output_kind, st.input_kind)
                && !taken.accepts(produced)
                && !up.config_failed
                && !st.config_failed
            {
                diags.push(mismatch(
                    registry,
                    stages,
                    st,
                    up,
                    span.clone(),
                    produced,
                    taken,
                ));
            }
        }
    }

    report_cycles(stages, &by_id, diags);

    if !any_unresolved && !stages.is_empty() {
        if !stages.iter().any(|s| s.role == Some(Role::Source)) {
            diags.push(
                Diagnostic::error("the pipeline has no source stage", Some(stages_span.clone()))
                    .label("nothing here produces data")
                    .help("add a source, e.g. `[stages.cam]` with `type = \"capture\"` and `source = \"test_pattern\"`"),
            );
        }
        if !stages.iter().any(|s| s.role == Some(Role::Sink)) {
            diags.push(
                Diagnostic::error("the pipeline has no sink stage", Some(stages_span))
                    .label("nothing here consumes the results")
                    .help("add a sink, e.g. `[stages.out]` with `type = \"publish\"`, `sink = \"jsonl\"` and `inputs = [...]`"),
            );
        }
    }

    // Outputs nobody reads: a warning (the stage still runs, its work is thrown away).
    let consumed: BTreeSet<&str> = stages
        .iter()
        .flat_map(|s| s.inputs.iter().map(|(n, _)| n.as_str()))
        .collect();
    for st in stages.iter().filter(|_| !dangling) {
        if matches!(st.role, Some(Role::Source | Role::Transform))
            && !consumed.contains(st.id.as_str())
        {
            diags.push(
                Diagnostic::warning(
                    format!("the output of stage `{}` is not consumed", st.id),
                    Some(st.id_span.clone()),
                )
                .label("no stage lists this one in its `inputs`")
                .help(format!(
                    "add `\"{}\"` to the `inputs` of a later stage, or remove this stage",
                    st.id
                )),
            );
        }
    }
}

/// How a port kind reads in a sentence.
fn phrase(kind: PortKind) -> String {
    match kind {
        PortKind::Any => "any kind of message".to_string(),
        k => k.to_string(),
    }
}

fn mismatch(
    registry: &Registry,
    stages: &[ParsedStage],
    st: &ParsedStage,
    up: &ParsedStage,
    span: Range<usize>,
    produced: PortKind,
    taken: PortKind,
) -> Diagnostic {
    let describe = |s: &ParsedStage| s.type_name.clone().unwrap_or_default();
    let d = Diagnostic::error(
        format!(
            "type mismatch: `{}` ({}) takes {taken}, but `{}` ({}) produces {produced}",
            st.id,
            describe(st),
            up.id,
            describe(up)
        ),
        Some(span),
    )
    .label(format!("produces {produced}"));
    // A file capture decodes by itself unless asked for packets: the fix is an option, not a
    // stage in between.
    if up.type_name.as_deref() == Some("capture")
        && up.variant.as_ref().is_some_and(|(_, v)| v == "file")
        && produced == PortKind::Frame
        && taken == PortKind::Packet
    {
        return d.help(format!(
            "a file capture decodes by itself and hands on frames: set `output = \"packets\"` on \
             `{}` to give `{}` the still-encoded packets, or read `{}`'s frames directly without \
             `{}`",
            up.id, st.id, up.id, st.id
        ));
    }
    // A stage type that turns what is produced into what is taken bridges the two.
    let bridge = registry
        .entries()
        .iter()
        .find(|e| {
            e.factory.input_kind() == Some(produced)
                && e.factory.output_kind().is_some_and(|o| taken.accepts(o))
        })
        .map(|e| (e.info.type_name, None))
        .or_else(|| {
            registry
                .not_compiled_entries()
                .iter()
                .find(|n| {
                    !n.planned
                        && n.input == Some(produced)
                        && n.output.is_some_and(|o| taken.accepts(o))
                })
                .map(|n| (n.type_name, Some(n.feature)))
        });
    match bridge {
        Some((ty, None)) => d.help(format!(
            "insert a `{ty}` stage between them: `{}` → {ty} → `{}`",
            up.id, st.id
        )),
        Some((ty, Some(feature))) => d.help(format!(
            "insert a `{ty}` stage between them (rebuild with `--features {feature}`)"
        )),
        None => {
            let producers: Vec<&str> = stages
                .iter()
                .filter(|s| s.output_kind.is_some_and(|k| taken.accepts(k)) && s.id != st.id)
                .map(|s| s.id.as_str())
                .collect();
            if producers.is_empty() {
                d.help(format!(
                    "no stage type turns {produced} into {taken}: feed `{}` from a stage that produces {taken}",
                    st.id
                ))
            } else {
                d.help(format!(
                    "no stage type turns {produced} into {taken}: read from a stage that produces {taken}: {}",
                    backticked(producers)
                ))
            }
        }
    }
}

/// Finds every cycle (once each) with a depth-first search and reports it at the input that
/// closes it.
fn report_cycles(
    stages: &[ParsedStage],
    by_id: &BTreeMap<&str, &ParsedStage>,
    diags: &mut Diagnostics,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    let index: BTreeMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut mark = vec![Mark::New; stages.len()];
    let mut reported: BTreeSet<Vec<usize>> = BTreeSet::new();
    for start in 0..stages.len() {
        if mark[start] != Mark::New {
            continue;
        }
        // Iterative DFS over "reads from" edges: stack of (node, next input index).
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Active;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            let inputs = &stages[node].inputs;
            if *next >= inputs.len() {
                mark[node] = Mark::Done;
                stack.pop();
                continue;
            }
            let (name, span) = &inputs[*next];
            *next += 1;
            let Some(&up) = index.get(name.as_str()) else {
                continue;
            };
            if !by_id.contains_key(name.as_str()) {
                continue;
            }
            match mark[up] {
                Mark::New => {
                    mark[up] = Mark::Active;
                    stack.push((up, 0));
                }
                Mark::Active => {
                    let pos = stack.iter().position(|(n, _)| *n == up).unwrap_or(0);
                    let mut cycle: Vec<usize> = stack[pos..].iter().map(|(n, _)| *n).collect();
                    let mut key = cycle.clone();
                    key.sort_unstable();
                    if reported.insert(key) {
                        // Data flows from input to reader: print in flow order.
                        cycle.reverse();
                        let mut path: Vec<&str> =
                            cycle.iter().map(|&i| stages[i].id.as_str()).collect();
                        path.push(stages[cycle[0]].id.as_str());
                        diags.push(
                            Diagnostic::error(
                                format!("cycle: {}", path.join(" → ")),
                                Some(span.clone()),
                            )
                            .label(format!(
                                "`{}` reads from `{name}`, closing the cycle",
                                stages[node].id
                            ))
                            .help("data must flow one way: remove one of these inputs"),
                        );
                    }
                }
                Mark::Done => {}
            }
        }
    }
}
