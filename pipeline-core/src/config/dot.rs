//! Rendering a checked pipeline as a Graphviz DOT graph (`edgeflow graph`).

use super::PipelineSpec;
use crate::message::PortKind;
use crate::registry::Role;

impl PipelineSpec {
    /// The pipeline as a Graphviz DOT graph.
    pub fn to_dot(&self) -> String {
        let mut s = format!("digraph \"{}\" {{\n  rankdir=LR;\n", escape(&self.name));
        for st in &self.stages {
            let shape = match st.role {
                Role::Source => "invhouse",
                Role::Transform => "box",
                Role::Sink => "house",
            };
            let kind = match &st.variant {
                Some((k, v)) => format!("{} ({k} = {v})", st.type_name),
                None => st.type_name.clone(),
            };
            s.push_str(&format!(
                "  \"{}\" [shape={shape}, label=\"{}\\n{}\"];\n",
                escape(&st.id),
                escape(&st.id),
                escape(&kind)
            ));
        }
        for st in &self.stages {
            for input in &st.inputs {
                let kind = self
                    .stage(input)
                    .and_then(|u| u.output_kind)
                    .map_or("?", PortKind::name);
                s.push_str(&format!(
                    "  \"{}\" -> \"{}\" [label=\"{kind}\\n{} × {}\"];\n",
                    escape(input),
                    escape(&st.id),
                    st.queue.capacity,
                    st.queue.policy.name()
                ));
            }
        }
        s.push_str("}\n");
        s
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
