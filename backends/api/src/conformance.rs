//! The checks every backend crate runs against its own backend, so a new backend gets its
//! tests by calling [`check`] from one test with a model and an input it knows:
//!
//! - the specs: at least one input and one output, unique non-empty names, image inputs with a
//!   layout;
//! - a run on the known input: one output per output spec, each fitting its spec (type,
//!   fixed dimensions, quantization when the spec has one), and what the case expects of the
//!   values;
//! - decoded detections (outputs marked [`TensorRole::Detections`]) are `[batch, max, 6]`
//!   f32 rows with ordered corners and whole class numbers, padding rows marked by a
//!   negative class; labels the model carries are not empty;
//! - the same input gives the same outputs;
//! - error paths, each an error and never a panic: a tensor with too few elements, one of the
//!   wrong element type, no input at all.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::{Backend, DType, Tensor, TensorData, TensorRole};

/// A check of a run's outputs: `Err` says what is wrong with them.
pub type Expect = Box<dyn Fn(&[Tensor]) -> Result<(), String>>;

/// A known input and what the outputs must show.
pub struct Case {
    /// One tensor per model input, in model order.
    pub inputs: Vec<Tensor>,
    /// A check of the outputs' values (beyond fitting the specs); `Err` says what is wrong.
    pub expect: Expect,
}

/// Run every check on `backend`; `Err` lists every failure, each naming its check.
pub fn check(backend: &mut dyn Backend, case: &Case) -> Result<(), Vec<String>> {
    let mut failures = Vec::new();
    specs(backend, &mut failures);
    let first = guarded(|| backend.run(&case.inputs));
    match &first {
        Ok(Ok(outputs)) => outputs_fit(backend, outputs, case, &mut failures),
        Ok(Err(e)) => failures.push(format!("run on the known input: {e}")),
        Err(p) => failures.push(format!("run on the known input panicked: {p}")),
    }
    if let Ok(Ok(a)) = &first {
        match guarded(|| backend.run(&case.inputs)) {
            Ok(Ok(b)) if &b == a => {}
            Ok(Ok(_)) => failures.push("the same input gave other outputs".into()),
            Ok(Err(e)) => failures.push(format!("a second run failed: {e}")),
            Err(p) => failures.push(format!("a second run panicked: {p}")),
        }
    }
    for (what, inputs) in bad_inputs(case) {
        match guarded(|| backend.run(&inputs)) {
            Ok(Err(_)) => {}
            Ok(Ok(_)) => failures.push(format!("{what}: accepted, should be an error")),
            Err(p) => failures.push(format!("{what}: panicked ({p}), should be an error")),
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures)
    }
}

fn specs(backend: &dyn Backend, failures: &mut Vec<String>) {
    if backend
        .labels()
        .is_some_and(|l| l.is_empty() || l.iter().any(String::is_empty))
    {
        failures.push("specs: the model's labels are empty or have an empty name".into());
    }
    let (inputs, outputs) = (backend.inputs(), backend.outputs());
    if inputs.is_empty() || outputs.is_empty() {
        failures.push(format!(
            "specs: {} inputs and {} outputs (needs at least one of each)",
            inputs.len(),
            outputs.len()
        ));
    }
    let mut names: Vec<&str> = inputs
        .iter()
        .chain(outputs)
        .map(|s| s.name.as_str())
        .collect();
    if names.iter().any(|n| n.is_empty()) {
        failures.push("specs: a tensor without a name".into());
    }
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        failures.push("specs: two tensors share a name".into());
    }
    for s in inputs {
        let image = s.shape.len() == 4;
        if image && s.layout.is_none() {
            failures.push(format!("specs: image input `{s}` has no layout"));
        }
    }
}

fn outputs_fit(backend: &dyn Backend, outputs: &[Tensor], case: &Case, failures: &mut Vec<String>) {
    let specs = backend.outputs();
    if outputs.len() != specs.len() {
        failures.push(format!(
            "outputs: {} tensors for {} output specs",
            outputs.len(),
            specs.len()
        ));
    }
    for (t, spec) in outputs.iter().zip(specs) {
        if let Err(e) = t.check_against(spec) {
            failures.push(format!("outputs: {e}"));
        }
        if spec.quantization.is_some() && t.quantization != spec.quantization {
            failures.push(format!(
                "outputs: `{}` is quantized but the tensor does not say how",
                spec.name
            ));
        }
        if spec.role == TensorRole::Detections
            && let Err(e) = decoded_rows(t)
        {
            failures.push(format!("outputs: detections `{}`: {e}", spec.name));
        }
    }
    if let Err(e) = (case.expect)(outputs) {
        failures.push(format!("outputs: {e}"));
    }
}

/// Decoded detections: `[batch, max, 6]` f32, `x1 <= x2`, `y1 <= y2`, whole class numbers.
fn decoded_rows(t: &Tensor) -> Result<(), String> {
    if t.dtype() != DType::F32 || t.shape.len() != 3 || t.shape[2] != 6 {
        return Err(format!(
            "{:?} {:?}, not [batch, max, 6] F32",
            t.shape,
            t.dtype()
        ));
    }
    let v = t.to_f32();
    for row in v.chunks_exact(6) {
        let class = row[5];
        if class < 0.0 {
            continue;
        }
        if class.fract() != 0.0 || row[0] > row[2] || row[1] > row[3] || !row[4].is_finite() {
            return Err(format!("row {row:?} is not x1, y1, x2, y2, score, class"));
        }
    }
    Ok(())
}

/// Inputs every backend must refuse: too few elements, the wrong element type, none at all.
fn bad_inputs(case: &Case) -> Vec<(&'static str, Vec<Tensor>)> {
    let mut bad = vec![("no input", Vec::new())];
    if let Some(first) = case.inputs.first() {
        let mut short = first.clone();
        short.data = match &first.data {
            TensorData::F32(v) => TensorData::F32(v[..v.len().saturating_sub(1)].to_vec()),
            TensorData::F16(v) => TensorData::F16(v[..v.len().saturating_sub(1)].to_vec()),
            TensorData::U8(v) => TensorData::U8(v[..v.len().saturating_sub(1)].to_vec()),
            TensorData::I8(v) => TensorData::I8(v[..v.len().saturating_sub(1)].to_vec()),
        };
        let mut other = first.clone();
        other.data = match &first.data {
            TensorData::F32(v) => TensorData::I8(vec![0; v.len()]),
            d => TensorData::F32(vec![0.0; d.len()]),
        };
        let mut rest: Vec<Tensor> = case.inputs[1..].to_vec();
        rest.insert(0, short);
        bad.push(("a tensor with one element too few", rest.clone()));
        rest[0] = other;
        bad.push(("a tensor of another element type", rest));
    }
    bad
}

fn guarded<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

/// A tensor of `spec`'s own element type and shape (dynamic dimensions become 1) with every
/// element `value` (rounded and saturated for integer types).
pub fn filled_as(spec: &crate::TensorSpec, value: f32) -> Tensor {
    let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
    let n: usize = shape.iter().product();
    let data = match spec.dtype {
        DType::U8 => TensorData::U8(vec![value.round().clamp(0.0, 255.0) as u8; n]),
        DType::I8 => TensorData::I8(vec![value.round().clamp(-128.0, 127.0) as i8; n]),
        DType::F16 => TensorData::F16(vec![half::f16::from_f32(value); n]),
        _ => TensorData::F32(vec![value; n]),
    };
    let mut t = Tensor::new(shape, data);
    t.layout = spec.layout;
    t.quantization = spec.quantization;
    t
}

/// An NCHW f32 image tensor of `value` everywhere, the shape a spec asks for (dynamic
/// dimensions become 1): a ready input for a [`Case`].
pub fn filled(spec: &crate::TensorSpec, value: f32) -> Tensor {
    let shape: Vec<usize> = spec.shape.iter().map(|d| d.unwrap_or(1)).collect();
    let n = shape.iter().product();
    let t = Tensor::f32(shape, vec![value; n]);
    match spec.layout {
        Some(l) => t.with_layout(l),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendError, DType, TensorSpec};

    /// Sums its input: a backend that gets everything right.
    struct Sum(Vec<TensorSpec>, Vec<TensorSpec>, bool);

    impl Backend for Sum {
        fn inputs(&self) -> &[TensorSpec] {
            &self.0
        }
        fn outputs(&self) -> &[TensorSpec] {
            &self.1
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError> {
            let [x] = inputs else {
                return Err(BackendError::Run("one input".into()));
            };
            if self.2 {
                // A careless backend: indexes without checking.
                let v = x.as_f32().unwrap_or(&[]);
                return Ok(vec![Tensor::f32(vec![1], vec![v[3]])]);
            }
            x.check_against(&self.0[0]).map_err(BackendError::Run)?;
            Ok(vec![Tensor::f32(vec![1], vec![x.to_f32().iter().sum()])])
        }
    }

    fn sum(careless: bool) -> Sum {
        Sum(
            vec![TensorSpec::new(
                "x",
                vec![Some(1), Some(1), Some(2), Some(2)],
                DType::F32,
            )],
            vec![TensorSpec::new("y", vec![Some(1)], DType::F32)],
            careless,
        )
    }

    fn case(b: &Sum) -> Case {
        Case {
            inputs: vec![filled(&b.0[0], 1.0)],
            expect: Box::new(|out| match out[0].to_f32().first() {
                Some(v) if *v == 4.0 => Ok(()),
                other => Err(format!("sum {other:?}, want 4")),
            }),
        }
    }

    #[test]
    fn a_careful_backend_passes() {
        let mut b = sum(false);
        let c = case(&b);
        assert_eq!(check(&mut b, &c), Ok(()));
    }

    #[test]
    fn a_careless_backend_fails_with_every_reason() {
        let mut b = sum(true);
        let c = case(&b);
        let failures = check(&mut b, &c).unwrap_err();
        let text = failures.join("\n");
        assert!(text.contains("outputs: sum Some(1.0), want 4"), "{text}");
        assert!(
            text.contains("a tensor of another element type: panicked"),
            "{text}"
        );
        assert!(text.contains("one element too few: panicked"), "{text}");
        assert!(
            b.1[0].layout.is_none() && !text.contains("specs:"),
            "{text}"
        );
    }

    #[test]
    fn image_inputs_need_a_layout() {
        let mut b = sum(false);
        b.0[0].layout = None;
        let c = case(&b);
        let failures = check(&mut b, &c).unwrap_err();
        assert!(failures[0].contains("has no layout"), "{failures:?}");
    }

    /// Gives decoded detections with its corners swapped.
    struct Swapped(Vec<TensorSpec>, Vec<TensorSpec>, Vec<String>);

    impl Backend for Swapped {
        fn inputs(&self) -> &[TensorSpec] {
            &self.0
        }
        fn outputs(&self) -> &[TensorSpec] {
            &self.1
        }
        fn labels(&self) -> Option<&[String]> {
            Some(&self.2)
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, BackendError> {
            let [x] = inputs else {
                return Err(BackendError::Run("one input".into()));
            };
            x.check_against(&self.0[0]).map_err(BackendError::Run)?;
            Ok(vec![Tensor::f32(
                vec![1, 2, 6],
                vec![9.0, 0.0, 1.0, 5.0, 0.9, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0],
            )])
        }
    }

    #[test]
    fn decoded_rows_and_labels_are_checked() {
        let mut b = Swapped(
            sum(false).0,
            vec![TensorSpec::new("d", vec![Some(1), Some(2), Some(6)], DType::F32).detections()],
            vec![String::new()],
        );
        let c = Case {
            inputs: vec![filled(&b.0[0], 1.0)],
            expect: Box::new(|_| Ok(())),
        };
        let text = check(&mut b, &c).unwrap_err().join("\n");
        assert!(
            text.contains("detections `d`: row [9.0, 0.0, 1.0, 5.0"),
            "{text}"
        );
        assert!(
            text.contains("labels are empty or have an empty name"),
            "{text}"
        );
        assert!(!text.contains("-1.0"), "padding rows pass: {text}");
    }
}
