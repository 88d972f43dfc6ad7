//! Loader error paths not covered by the CLI's golden fixtures, and what a good file becomes.

use edgeflow_core::{
    BuildCtx, BuildError, Detections, Emit, Frame, Message, QueuePolicy, Registry, Role, Sink,
    Source, StageError, StageInfo, Transform, Variant, load_str,
};
use serde::Deserialize;

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct Empty {}

#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
struct Inner {
    #[serde(default)]
    level: u32,
}

/// A config with `flatten`: its field list cannot be probed, so serde decides.
#[derive(Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
struct Flat {
    #[serde(flatten)]
    inner: Inner,
}

struct Src;
impl Source for Src {
    type Config = Empty;
    type Out = Frame;
    fn build(_: Empty, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Src)
    }
    fn next(&mut self) -> Result<Option<Frame>, StageError> {
        Ok(None)
    }
}

struct Det(#[allow(dead_code)] u32);
impl Transform for Det {
    type Config = Flat;
    type In = Frame;
    type Out = Detections;
    fn build(cfg: Flat, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Det(cfg.inner.level))
    }
    fn process(&mut self, _: Frame, _: &mut Emit<Detections>) -> Result<(), StageError> {
        Ok(())
    }
}

struct Out;
impl Sink for Out {
    type Config = Empty;
    type In = Message;
    fn build(_: Empty, _: &BuildCtx) -> Result<Self, BuildError> {
        Ok(Out)
    }
    fn consume(&mut self, _: Message) -> Result<(), StageError> {
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    let info = |type_name, variant| StageInfo {
        type_name,
        variant,
        summary: "",
        example: "",
    };
    r.source::<Src>(info(
        "src",
        Some(Variant {
            key: "kind",
            value: "a",
        }),
    ))
    .transform::<Det>(info("det", None))
    .sink::<Out>(info("out", None));
    r
}

fn errors(text: &str) -> String {
    match load_str(&registry(), "t.toml", text, ".".as_ref()) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(d) => d.render(false),
    }
}

#[test]
fn each_error_path_reports_a_clear_message() {
    let cases: &[(&str, &str)] = &[
        ("stages = 3", "`stages` must be a table of stages"),
        (
            "pipeline = 1\n[stages.s]\ntype = \"src\"\nkind = \"a\"",
            "`pipeline` must be a table",
        ),
        ("[pipeline]\nnmae = \"x\"", "did you mean `name`?"),
        ("[pipeline]\nname = \"\"", "`name` is empty"),
        ("[pipeline]\nname = 3", "wrong value type for `name`"),
        ("[pipeline]\nname = \"x\"", "the pipeline has no stages"),
        ("[stages]\ns = 3", "stage `s` must be a table"),
        (
            "[stages.\"a b\"]\ntype = \"src\"\nkind = \"a\"",
            "invalid stage id `a b`",
        ),
        ("[stages.s]\nkind = \"a\"", "stage `s` has no `type`"),
        ("[stages.s]\ntype = 5", "wrong value type for `type`"),
        (
            "[stages.s]\ntype = \"src\"",
            "stage `s` (type `src`) has no `kind`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = 1",
            "wrong value type for `kind`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"b\"",
            "unknown kind `b` for stage type `src`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\", 4]",
            "expected an array of stage ids (strings), found an integer",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = 4",
            "expected an array of stage ids, found an integer",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\", \"s\"]",
            "`s` is listed twice in the inputs of `o`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\n[stages.p]\ntype = \"out\"\ninputs = [\"o\"]",
            "stage `p` reads from `o`, a sink with no output",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\nqueue = 3",
            "wrong value type for `queue`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\nqueue = { capacity = \"x\" }",
            "wrong value type for `capacity`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\nqueue = { policy = 1 }",
            "wrong value type for `policy`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\nqueue = { size = 1 }",
            "unknown field `size` in `queue`",
        ),
        (
            "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.d]\ntype = \"det\"\ninputs = [\"s\"]\nlevel = \"high\"\n[stages.o]\ntype = \"out\"\ninputs = [\"d\"]",
            "expected a whole number of 0 or more, found the string \"high\"",
        ),
        (
            "bogus = 1\n[stages.s]\ntype = \"src\"\nkind = \"a\"",
            "unknown top-level key `bogus`",
        ),
    ];
    for (text, want) in cases {
        let out = errors(text);
        assert!(
            out.contains(want),
            "for\n{text}\nexpected `{want}` in:\n{out}"
        );
    }
}

#[test]
fn a_three_stage_cycle_is_reported_once_in_flow_order() {
    let text = "[stages.s]\ntype = \"src\"\nkind = \"a\"\n\
        [stages.a]\ntype = \"out\"\ninputs = [\"s\"]\n\
        [stages.x]\ntype = \"det\"\ninputs = [\"s\", \"z\"]\n\
        [stages.y]\ntype = \"det\"\ninputs = [\"x\"]\n\
        [stages.z]\ntype = \"det\"\ninputs = [\"y\"]\n";
    let out = errors(text);
    assert_eq!(out.matches("error: cycle").count(), 1, "{out}");
    assert!(
        out.contains("cycle: z → x → y → z")
            || out.contains("cycle: x → y → z → x")
            || out.contains("cycle: y → z → x → y"),
        "{out}"
    );
}

#[test]
fn good_file_becomes_a_spec_with_queue_defaults_and_overrides() {
    let text = "[stages.s]\ntype = \"src\"\nkind = \"a\"\n\
        [stages.d]\ntype = \"det\"\ninputs = [\"s\"]\nlevel = 3\nqueue = { policy = \"drop_oldest\" }\n\
        [stages.o]\ntype = \"out\"\ninputs = [\"d\", \"s\"]\nqueue = { capacity = 9 }\n";
    let loaded = load_str(&registry(), "dir/my-pipe.toml", text, "dir".as_ref())
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
    let spec = loaded.spec;
    assert_eq!(spec.name, "my-pipe");
    let d = spec.stage("d").unwrap();
    assert_eq!(d.role, Role::Transform);
    assert_eq!(
        (d.queue.capacity, d.queue.policy),
        (4, QueuePolicy::DropOldest)
    );
    let o = spec.stage("o").unwrap();
    assert_eq!((o.queue.capacity, o.queue.policy), (9, QueuePolicy::Block));
    assert_eq!(o.inputs, ["d", "s"]);
    assert_eq!(
        spec.stage("s").unwrap().variant,
        Some(("kind".into(), "a".into()))
    );
}

#[test]
fn flattened_configs_are_left_to_serde() {
    // `level` is not in a probed field list (flatten hides it), yet it is accepted.
    let text = "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.d]\ntype = \"det\"\ninputs = [\"s\"]\nlevel = 2\n[stages.o]\ntype = \"out\"\ninputs = [\"d\"]";
    assert!(load_str(&registry(), "t.toml", text, ".".as_ref()).is_ok());
}

/// A variant the binary was built without is an error at its value naming the feature; a
/// type with a default variant takes it when the key is left out, and only then.
#[test]
fn not_compiled_variants_and_default_variants() {
    let mut r = registry();
    r.not_compiled(edgeflow_core::NotCompiled {
        type_name: "src",
        variant: Some(Variant {
            key: "kind",
            value: "npu",
        }),
        feature: "npu",
        planned: false,
        input: None,
        output: Some(edgeflow_core::PortKind::Frame),
    });
    let file = |kind: &str| {
        format!(
            "[stages.s]\ntype = \"src\"\n{kind}\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\n"
        )
    };
    let text = match load_str(&r, "t.toml", &file("kind = \"npu\""), ".".as_ref()) {
        Ok(_) => panic!("a variant that is not compiled loaded"),
        Err(d) => d.render(false),
    };
    assert!(
        text.contains("`src` with `kind = \"npu\"` is not compiled into this binary"),
        "{text}"
    );
    assert!(text.contains("needs cargo feature `npu`"), "{text}");
    assert!(text.contains("rebuild with `--features npu`"), "{text}");
    assert!(text.contains("t.toml:3:8"), "points at the value: {text}");
    // Without a default the key is required...
    let text = match load_str(&r, "t.toml", &file(""), ".".as_ref()) {
        Ok(_) => panic!("a stage without its variant key loaded"),
        Err(d) => d.render(false),
    };
    assert!(text.contains("has no `kind`"), "{text}");
    // ...with one, a stage that leaves it out gets it.
    r.default_variant("src", "a");
    assert_eq!(r.variant_default("src"), Some("a"));
    let spec = load_str(&r, "t.toml", &file(""), ".".as_ref()).unwrap();
    let s = spec.spec.stages.iter().find(|s| s.id == "s").unwrap();
    assert_eq!(s.variant, Some(("kind".to_string(), "a".to_string())));
}

/// A registered section: `[web]`.
#[derive(Debug, Deserialize, edgeflow_core::schemars::JsonSchema)]
#[schemars(crate = "edgeflow_core::schemars")]
#[serde(deny_unknown_fields)]
struct Web {
    port: u16,
    #[serde(default)]
    page: bool,
}

impl edgeflow_core::Section for Web {
    const NAME: &'static str = "web";
    const SUMMARY: &'static str = "a web page";
    fn validate(&self) -> Result<(), edgeflow_core::Invalid> {
        let mut inv = edgeflow_core::Invalid::new();
        if self.port < 1024 {
            inv.field("port", "is below 1024", Some("pick 8080".into()));
        }
        inv.into_result()
    }
}

const STAGES: &str =
    "[stages.s]\ntype = \"src\"\nkind = \"a\"\n[stages.o]\ntype = \"out\"\ninputs = [\"s\"]\n";

#[test]
fn registered_sections_are_checked_like_stages_and_handed_out_typed() {
    let mut r = registry();
    r.section::<Web>().section_not_compiled("server", "server");
    let load = |text: &str| load_str(&r, "t.toml", text, ".".as_ref());
    let ok = load(&format!("[web]\nport = 8080\n{STAGES}")).unwrap();
    let web = ok.spec.sections.get::<Web>().expect("the section, typed");
    assert_eq!((web.port, web.page), (8080, false));
    let none = load(STAGES).unwrap();
    assert!(none.spec.sections.get::<Web>().is_none());

    let text = format!("[web]\nport = 80\npgae = true\n{STAGES}");
    let err = load(&text).unwrap_err().render(false);
    assert!(
        err.contains("invalid `port` in `[web]`: is below 1024"),
        "{err}"
    );
    assert!(err.contains("t.toml:2:8"), "points at the value: {err}");
    assert!(
        err.contains("unknown field `pgae` in `[web]`") && err.contains("did you mean `page`?"),
        "{err}"
    );
    let err = load(&format!("[web]\nport = \"x\"\npage = 3\n{STAGES}"))
        .unwrap_err()
        .render(false);
    assert!(
        err.contains("invalid value for `port` in `[web]`")
            && err.contains("invalid value for `page` in `[web]`"),
        "both bad values: {err}"
    );
    let err = load(&format!("web = 3\n{STAGES}"))
        .unwrap_err()
        .render(false);
    assert!(err.contains("`web` must be a table"), "{err}");
    let err = load(&format!("[server]\nlisten = \"x\"\n{STAGES}"))
        .unwrap_err()
        .render(false);
    assert!(
        err.contains("`[server]` is not in this build") && err.contains("--features server"),
        "{err}"
    );
    let err = load(&format!("[wbe]\n{STAGES}")).unwrap_err().render(false);
    assert!(
        err.contains("did you mean `web`?") && err.contains("`[web]`"),
        "{err}"
    );
    let schema = edgeflow_core::pipeline_schema(&r);
    assert_eq!(
        schema["properties"]["web"]["properties"]["port"]["type"], "integer",
        "{}",
        schema["properties"]["web"]
    );
}
