//! Finding a vendor library at run time: the first of several candidate paths that loads.

use std::path::{Path, PathBuf};

/// Try `open` on each candidate in order and return the first that works; else every place
/// tried, each with why (`not found`, `not on the dynamic loader's path`, or `open`'s own
/// error: a missing symbol, a version this backend does not take), joined by `; `. A
/// candidate of one component (`libhailort.so`) is left to the dynamic loader's search.
pub fn first_that_loads<T>(
    candidates: Vec<PathBuf>,
    mut open: impl FnMut(&Path) -> Result<T, String>,
) -> Result<(T, PathBuf), String> {
    let mut tried = Vec::new();
    for path in candidates {
        let by_name = path.components().count() == 1;
        if !by_name && !path.exists() {
            tried.push(format!("{} (not found)", path.display()));
            continue;
        }
        match open(&path) {
            Ok(t) => return Ok((t, path)),
            Err(e) if by_name && e.contains("cannot open shared object") => tried.push(format!(
                "{} (not on the dynamic loader's path)",
                path.display()
            )),
            Err(e) => tried.push(format!("{} ({e})", path.display())),
        }
    }
    Err(tried.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_tried_is_named_with_why() {
        let dir = std::env::temp_dir();
        let r: Result<((), PathBuf), String> = first_that_loads(
            vec![
                PathBuf::from("/nonexistent/libx.so"),
                dir.clone(),
                PathBuf::from("libx.so"),
            ],
            |p| {
                if p == dir {
                    Err("no `x_init`: undefined symbol".into())
                } else {
                    Err("libx.so: cannot open shared object file".into())
                }
            },
        );
        assert_eq!(
            r.unwrap_err(),
            format!(
                "/nonexistent/libx.so (not found); {} (no `x_init`: undefined symbol); libx.so (not on the dynamic loader's path)",
                dir.display()
            )
        );
        let ok = first_that_loads(vec![PathBuf::from("/nonexistent"), dir.clone()], |_| Ok(7));
        assert_eq!(ok.unwrap(), (7, dir));
    }
}
