//! `posixpath.normpath`: lexical, no I/O.

/// `posixpath.normpath(path)`: one or three-plus leading slashes become one,
/// exactly two stay two (POSIX leaves `//` to the implementation); empty and
/// `.` components go; `..` removes the component before it, stays at the
/// start of a relative path and vanishes at the root; the empty result is `.`.
pub(crate) fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial_slashes == 0 && comps.is_empty()) || comps.last() == Some(&"..")
        {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = "/".repeat(initial_slashes);
    out.push_str(&comps.join("/"));
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::normpath;

    #[test]
    fn as_posixpath_normpath() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("//", "//"),
            ("///", "/"),
            ("//a//b", "//a/b"),
            ("///a/b", "/a/b"),
            ("/data/../etc/passwd", "/etc/passwd"),
            ("/data/./x/", "/data/x"),
            ("/../..", "/"),
            ("a/../..", ".."),
            ("../a/../../b", "../../b"),
            ("a/./b/.", "a/b"),
            (".", "."),
            ("/data/%2e%2e/x", "/data/%2e%2e/x"),
        ] {
            assert_eq!(normpath(input), want, "{input:?}");
        }
    }
}
