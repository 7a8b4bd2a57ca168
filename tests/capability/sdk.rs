//! Runs a batch of cases through `sdk.py` in the virtualenv's Python.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// Runs `op` on every case in one Python process; one result per case.
pub fn run(op: &str, cases: &[Value]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/capability/sdk.py");
    let mut child = Command::new(super::python::python())
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the virtualenv's python starts");
    let request = serde_json::to_vec(&json!({"op": op, "cases": cases})).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&request));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "sdk.py {op} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut answer: Value = serde_json::from_slice(&output.stdout).expect("sdk.py answers JSON");
    let results = answer["results"].take();
    let results = results.as_array().expect("a list of results").clone();
    assert_eq!(results.len(), cases.len());
    results
}

/// One case.
pub fn one(op: &str, case: Value) -> Value {
    run(op, &[case]).remove(0)
}
