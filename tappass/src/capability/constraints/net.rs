//! Addresses and URLs as Python 3.11 reads them (`ipaddress`,
//! `urllib.parse.urlparse`, `unquote`), and the stricter reading this crate
//! adds for `UrlSafe` and `UrlPattern` (the WHATWG parser that HTTP clients
//! use must see the same scheme, host and path).

use std::net::Ipv6Addr;

/// An address as `ipaddress.ip_address` returns it (the IPv6 scope, which
/// never changes a comparison, is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ip {
    V4(u32),
    V6(u128),
}

/// `IPv4Address(s)`: four decimal octets, ASCII digits, at most three each,
/// no leading zero, at most 255.
pub(crate) fn parse_ipv4(s: &str) -> Option<u32> {
    if s.is_empty() || s.contains('/') {
        return None;
    }
    let mut value: u32 = 0;
    let mut count = 0;
    for octet in s.split('.') {
        count += 1;
        if count > 4
            || octet.is_empty()
            || octet.len() > 3
            || !octet.bytes().all(|b| b.is_ascii_digit())
            || (octet != "0" && octet.starts_with('0'))
        {
            return None;
        }
        let v: u32 = octet.parse().ok()?;
        if v > 255 {
            return None;
        }
        value = value << 8 | v;
    }
    (count == 4).then_some(value)
}

/// `IPv6Address(s)`: hextets of one to four hex digits, one `::`, an IPv4
/// tail, an optional `%scope` (non-empty, no second `%`).
pub(crate) fn parse_ipv6(s: &str) -> Option<u128> {
    if s.contains('/') {
        return None;
    }
    let addr = match s.split_once('%') {
        None => s,
        Some((addr, scope)) => {
            if scope.is_empty() || scope.contains('%') {
                return None;
            }
            addr
        }
    };
    if addr.is_empty() {
        return None;
    }
    let mut parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 {
        return None;
    }
    let mut tail = Vec::new();
    if parts.last().is_some_and(|p| p.contains('.')) {
        let v4 = parse_ipv4(parts.pop().expect("checked"))?;
        tail.push(format!("{:x}", v4 >> 16));
        tail.push(format!("{:x}", v4 & 0xFFFF));
    }
    let mut parts: Vec<&str> = parts;
    for t in &tail {
        parts.push(t.as_str());
    }
    if parts.len() > 9 {
        return None;
    }
    let mut skip_index = None;
    for (i, part) in parts.iter().enumerate().take(parts.len() - 1).skip(1) {
        if part.is_empty() {
            if skip_index.is_some() {
                return None;
            }
            skip_index = Some(i);
        }
    }
    let (parts_hi, parts_lo, parts_skipped) = match skip_index {
        Some(skip) => {
            let mut hi = skip;
            let mut lo = parts.len() - skip - 1;
            if parts[0].is_empty() {
                hi -= 1;
                if hi != 0 {
                    return None;
                }
            }
            if parts[parts.len() - 1].is_empty() {
                lo -= 1;
                if lo != 0 {
                    return None;
                }
            }
            let skipped = 8i32 - (hi + lo) as i32;
            if skipped < 1 {
                return None;
            }
            (hi, lo, skipped as u32)
        }
        None => {
            if parts.len() != 8 || parts[0].is_empty() || parts[7].is_empty() {
                return None;
            }
            (parts.len(), 0, 0)
        }
    };
    let hextet = |p: &str| -> Option<u128> {
        if p.is_empty() || p.len() > 4 || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(p, 16).ok()
    };
    let mut ip: u128 = 0;
    for part in &parts[..parts_hi] {
        ip = ip << 16 | hextet(part)?;
    }
    ip = ip.checked_shl(16 * parts_skipped).unwrap_or(0);
    for part in &parts[parts.len() - parts_lo..] {
        ip = ip << 16 | hextet(part)?;
    }
    Some(ip)
}

/// `ipaddress.ip_address(s)`.
pub(crate) fn ip_address(s: &str) -> Option<Ip> {
    parse_ipv4(s)
        .map(Ip::V4)
        .or_else(|| parse_ipv6(s).map(Ip::V6))
}

/// A network as `ipaddress.ip_network(s, strict=False)` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Net {
    pub(crate) v6: bool,
    /// The network address (host bits cleared).
    pub(crate) addr: u128,
    pub(crate) prefix: u8,
}

impl Net {
    fn mask(&self) -> u128 {
        let bits = if self.v6 { 128 } else { 32 };
        let all: u128 = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        if self.prefix == 0 {
            0
        } else {
            all ^ (all >> self.prefix.min(bits))
        }
    }

    /// The last address of the network.
    pub(crate) fn last(&self) -> u128 {
        let all: u128 = if self.v6 { u128::MAX } else { u32::MAX as u128 };
        self.addr | (all & !self.mask())
    }

    /// `ip in network`.
    pub(crate) fn contains(&self, ip: Ip) -> bool {
        match (ip, self.v6) {
            (Ip::V4(a), false) => (a as u128) & self.mask() == self.addr,
            (Ip::V6(a), true) => a & self.mask() == self.addr,
            _ => false,
        }
    }
}

/// `ipaddress.ip_network(s, strict=False)`.
pub(crate) fn ip_network(s: &str) -> Option<Net> {
    let pieces: Vec<&str> = s.split('/').collect();
    if pieces.len() > 2 {
        return None;
    }
    let digits_prefix = |m: &str, max: u8| -> Option<u8> {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let v: u32 = m.parse().ok()?;
        (v <= max as u32).then_some(v as u8)
    };
    // IPv4 first, as ip_network tries it first.
    if let Some(a) = parse_ipv4(pieces[0]) {
        let prefix = match pieces.get(1) {
            None => Some(32),
            Some(m) => digits_prefix(m, 32).or_else(|| ipv4_mask_prefix(m)),
        };
        if let Some(prefix) = prefix {
            let mut net = Net {
                v6: false,
                addr: a as u128,
                prefix,
            };
            net.addr &= net.mask();
            return Some(net);
        }
    }
    let a = parse_ipv6(pieces[0])?;
    let prefix = match pieces.get(1) {
        None => 128,
        Some(m) => digits_prefix(m, 128)?,
    };
    let mut net = Net {
        v6: true,
        addr: a,
        prefix,
    };
    net.addr &= net.mask();
    Some(net)
}

/// A dotted netmask (`255.0.0.0`) or hostmask (`0.255.255.255`) as a prefix
/// length; all ones and all zeroes are netmasks.
fn ipv4_mask_prefix(m: &str) -> Option<u8> {
    let v = parse_ipv4(m)?;
    let from_netmask = |v: u32| -> Option<u8> {
        let tz = if v == 0 { 32 } else { v.trailing_zeros() };
        let prefix = 32 - tz;
        let leading = if tz == 32 { 0 } else { v >> tz };
        let all_ones = if prefix == 0 {
            0
        } else {
            u32::MAX >> (32 - prefix)
        };
        (leading == all_ones).then_some(prefix as u8)
    };
    from_netmask(v).or_else(|| from_netmask(!v))
}

fn in_v4(a: u32, net: u32, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    a & mask == net
}

fn in_v6(a: u128, net: u128, prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    };
    a & mask == net
}

fn v6(s: &str) -> u128 {
    u128::from(s.parse::<Ipv6Addr>().expect("a valid IPv6 literal"))
}

/// Python 3.11's `IPv4Address.is_private`.
pub(crate) fn v4_is_private(a: u32) -> bool {
    const NETS: [(u32, u32); 14] = [
        (0x00000000, 8),
        (0x0A000000, 8),
        (0x7F000000, 8),
        (0xA9FE0000, 16),
        (0xAC100000, 12),
        (0xC0000000, 29),
        (0xC00000AA, 31),
        (0xC0000200, 24),
        (0xC0A80000, 16),
        (0xC6120000, 15),
        (0xC6336400, 24),
        (0xCB007100, 24),
        (0xF0000000, 4),
        (0xFFFFFFFF, 32),
    ];
    NETS.iter().any(|(n, p)| in_v4(a, *n, *p))
}

pub(crate) fn v4_is_loopback(a: u32) -> bool {
    in_v4(a, 0x7F000000, 8)
}

pub(crate) fn v4_is_link_local(a: u32) -> bool {
    in_v4(a, 0xA9FE0000, 16)
}

/// `IPv6Address.ipv4_mapped`.
pub(crate) fn v6_mapped(a: u128) -> Option<u32> {
    (a >> 32 == 0xFFFF).then_some(a as u32)
}

/// Python 3.11's `IPv6Address.is_private` (a mapped address answers as its
/// IPv4 address does).
pub(crate) fn v6_is_private(a: u128) -> bool {
    if let Some(v4) = v6_mapped(a) {
        return v4_is_private(v4);
    }
    [
        ("::1", 128),
        ("::", 128),
        ("::ffff:0:0", 96),
        ("100::", 64),
        ("2001::", 23),
        ("2001:2::", 48),
        ("2001:db8::", 32),
        ("2001:10::", 28),
        ("fc00::", 7),
        ("fe80::", 10),
    ]
    .iter()
    .any(|(n, p)| in_v6(a, v6(n), *p))
}

pub(crate) fn v6_is_link_local(a: u128) -> bool {
    in_v6(a, v6("fe80::"), 10)
}

/// The parts of `urlparse(url)` the constraints read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyUrl {
    pub(crate) scheme: String,
    pub(crate) netloc: String,
    /// The path without `;params` (for the schemes `urlparse` splits them from).
    pub(crate) path: String,
}

/// `urllib.parse.urlparse(url)`; `None` where it raises `ValueError`.
///
/// A netloc with non-ASCII characters is refused here (Python checks it
/// under NFKC and may accept it; every caller refuses such URLs anyway).
pub(crate) fn urlparse(url: &str) -> Option<PyUrl> {
    const C0_OR_SPACE: &[char] = &[
        '\x00', '\x01', '\x02', '\x03', '\x04', '\x05', '\x06', '\x07', '\x08', '\t', '\n', '\x0b',
        '\x0c', '\r', '\x0e', '\x0f', '\x10', '\x11', '\x12', '\x13', '\x14', '\x15', '\x16',
        '\x17', '\x18', '\x19', '\x1a', '\x1b', '\x1c', '\x1d', '\x1e', '\x1f', ' ',
    ];
    let url: String = url
        .trim_start_matches(C0_OR_SPACE)
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut rest: &str = &url;
    let mut scheme = String::new();
    if let Some(i) = rest.find(':') {
        let candidate = &rest[..i];
        if i > 0
            && candidate.as_bytes()[0].is_ascii_alphabetic()
            && candidate
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            scheme = candidate.to_ascii_lowercase();
            rest = &rest[i + 1..];
        }
    }
    let mut netloc = String::new();
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = after[..end].to_owned();
        rest = &after[end..];
        let open = netloc.contains('[');
        let close = netloc.contains(']');
        if open != close {
            return None;
        }
        if open {
            let bracketed = netloc
                .split_once('[')
                .map(|(_, b)| b.split_once(']').map_or(b, |(h, _)| h))
                .unwrap_or("");
            check_bracketed_host(bracketed)?;
        }
    }
    if let Some((before, _fragment)) = rest.split_once('#') {
        rest = before;
    }
    if let Some((before, _query)) = rest.split_once('?') {
        rest = before;
    }
    if !netloc.is_ascii() {
        return None;
    }
    const USES_PARAMS: &[&str] = &[
        "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtsps", "rtspu",
        "sip", "sips", "mms", "sftp", "tel",
    ];
    let mut path = rest;
    if USES_PARAMS.contains(&scheme.as_str()) && path.contains(';') {
        let cut = match path.rfind('/') {
            Some(slash) => path[slash..].find(';').map(|i| slash + i),
            None => path.find(';'),
        };
        if let Some(cut) = cut {
            path = &path[..cut];
        }
    }
    Some(PyUrl {
        scheme,
        netloc,
        path: path.to_owned(),
    })
}

/// `_check_bracketed_host`: an IPvFuture (`v1.x`) or an IPv6 address.
fn check_bracketed_host(host: &str) -> Option<()> {
    if let Some(rest) = host.strip_prefix('v') {
        // \Av[a-fA-F0-9]+\..+\Z
        let (hex, tail) = rest.split_once('.')?;
        let ok = !hex.is_empty()
            && hex.bytes().all(|b| b.is_ascii_hexdigit())
            && !tail.is_empty()
            && !tail.contains('\n');
        return ok.then_some(());
    }
    match ip_address(host)? {
        Ip::V6(_) => Some(()),
        Ip::V4(_) => None,
    }
}

impl PyUrl {
    /// `(hostname, port)` as `_hostinfo` splits the netloc (raw strings).
    fn hostinfo(&self) -> (&str, Option<&str>) {
        let hostinfo = self
            .netloc
            .rsplit_once('@')
            .map_or(self.netloc.as_str(), |(_, h)| h);
        let (hostname, port) = match hostinfo.split_once('[') {
            Some((_, bracketed)) => {
                let (h, p) = bracketed.split_once(']').unwrap_or((bracketed, ""));
                (h, p.split_once(':').map_or("", |(_, p)| p))
            }
            None => hostinfo.split_once(':').unwrap_or((hostinfo, "")),
        };
        (hostname, (!port.is_empty()).then_some(port))
    }

    /// `.hostname`: lowercased (an IPv6 zone keeps its case), `None` if empty.
    pub(crate) fn hostname(&self) -> Option<String> {
        let (hostname, _) = self.hostinfo();
        if hostname.is_empty() {
            return None;
        }
        Some(match hostname.split_once('%') {
            Some((h, zone)) => format!("{}%{}", h.to_ascii_lowercase(), zone),
            None => hostname.to_ascii_lowercase(),
        })
    }

    /// `.port`: `Err` where Python raises `ValueError`.
    pub(crate) fn port(&self) -> Result<Option<u16>, ()> {
        match self.hostinfo().1 {
            None => Ok(None),
            Some(p) => {
                if !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(());
                }
                let trimmed = p.trim_start_matches('0');
                if trimmed.len() > 5 {
                    return Err(());
                }
                let v: u32 = if trimmed.is_empty() {
                    0
                } else {
                    trimmed.parse().map_err(|_| ())?
                };
                u16::try_from(v).map(Some).map_err(|_| ())
            }
        }
    }
}

/// `urllib.parse.unquote(s)`: `%XX` to bytes within ASCII runs, decoded as
/// UTF-8 with replacement; a `%` without two hex digits stays.
pub(crate) fn unquote(s: &str) -> String {
    if !s.contains('%') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut run: Vec<u8> = Vec::new();
    let flush = |run: &mut Vec<u8>, out: &mut String| {
        if !run.is_empty() {
            out.push_str(&String::from_utf8_lossy(&percent_decode(run)));
            run.clear();
        }
    };
    for c in s.chars() {
        if c.is_ascii() {
            run.push(c as u8);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Python's `str.strip()` on ASCII text.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| {
        matches!(
            c,
            ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | '\x1c'..='\x1f'
        )
    })
}

/// What the stricter reading found: the WHATWG view of the same URL.
pub(crate) struct Agreed {
    pub(crate) url: url::Url,
}

/// The stricter reading shared by `UrlSafe` and `UrlPattern`: no backslash,
/// control character or space anywhere; the WHATWG URL parser (what
/// `reqwest`, browsers and most HTTP clients use) must read it and see the
/// scheme and host that Python's `urlparse` sees (`python_host` is Python's
/// hostname after `unquote` and lowercasing). Anything else is two URLs in
/// one string, and is refused.
pub(crate) fn agree(url_text: &str, py: &PyUrl, python_host: Option<&str>) -> Option<Agreed> {
    if url_text
        .chars()
        .any(|c| c == '\\' || c.is_ascii_control() || c == ' ')
    {
        return None;
    }
    let url = url::Url::parse(url_text).ok()?;
    if url.scheme() != py.scheme {
        return None;
    }
    match (url.host(), python_host) {
        (None, None) => {}
        (Some(url::Host::Domain(d)), Some(h)) => {
            if d != h {
                return None;
            }
        }
        (Some(url::Host::Ipv4(a)), Some(h)) => {
            if parse_ipv4(h) != Some(u32::from(a)) {
                return None;
            }
        }
        (Some(url::Host::Ipv6(a)), Some(h)) => {
            if h.contains('%') || parse_ipv6(h) != Some(u128::from(a)) {
                return None;
            }
        }
        _ => return None,
    }
    Some(Agreed { url })
}

/// The host as an address, however it is spelled: the WHATWG host parser
/// reads `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` as 127.0.0.1.
/// `Err` when the host is not a valid WHATWG host at all.
pub(crate) fn host_as_address(host: &str) -> Result<Option<Ip>, ()> {
    if host.contains(':') {
        let bare = host.split('%').next().unwrap_or(host);
        return parse_ipv6(bare).map(|a| Some(Ip::V6(a))).ok_or(());
    }
    match url::Host::parse(host) {
        Ok(url::Host::Ipv4(a)) => Ok(Some(Ip::V4(u32::from(a)))),
        Ok(url::Host::Ipv6(a)) => Ok(Some(Ip::V6(u128::from(a)))),
        Ok(url::Host::Domain(_)) => Ok(None),
        Err(_) => Err(()),
    }
}

/// The IPv4 address an IPv6 address carries, by any of the usual
/// embeddings: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`), NAT64
/// (`64:ff9b::/96`, `64:ff9b:1::/48`), 6to4 (`2002:AABB:CCDD::/16`).
pub(crate) fn embedded_v4(a: u128) -> Option<u32> {
    if let Some(v4) = v6_mapped(a) {
        return Some(v4);
    }
    if a >> 32 == 0 && a > 1 {
        return Some(a as u32);
    }
    if in_v6(a, v6("64:ff9b::"), 96) || in_v6(a, v6("64:ff9b:1::"), 48) {
        return Some(a as u32);
    }
    if in_v6(a, v6("2002::"), 16) {
        return Some((a >> 80) as u32);
    }
    None
}

/// Which addresses a `UrlSafe` refuses, by its three switches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Blocks {
    pub(crate) private: bool,
    pub(crate) loopback: bool,
    pub(crate) metadata: bool,
}

/// The stricter address rule: Python's (loopback, `is_private`, link-local,
/// the metadata address) plus carrier-grade NAT `100.64.0.0/10`, multicast,
/// IPv6 site-local, the metadata address however written, and any IPv4
/// address embedded in an IPv6 one judged as that IPv4 address.
pub(crate) fn address_refused(ip: Ip, blocks: Blocks) -> bool {
    match ip {
        Ip::V4(a) => {
            (blocks.loopback && v4_is_loopback(a))
                || (blocks.private
                    && (v4_is_private(a) || in_v4(a, 0x64400000, 10) || in_v4(a, 0xE0000000, 4)))
                || v4_is_link_local(a)
                || (blocks.metadata && a == 0xA9FEA9FE)
        }
        Ip::V6(a) => {
            if let Some(v4) = embedded_v4(a) {
                if address_refused(Ip::V4(v4), blocks) {
                    return true;
                }
            }
            (blocks.loopback && a == 1)
                || (blocks.private
                    && (v6_is_private(a)
                        || in_v6(a, v6("fec0::"), 10)
                        || in_v6(a, v6("ff00::"), 8)
                        || in_v6(a, v6("64:ff9b:1::"), 48)))
                || v6_is_link_local(a)
                || (blocks.metadata && a == v6("fd00:ec2::254"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_as_python_reads_it() {
        assert_eq!(parse_ipv4("127.0.0.1"), Some(0x7F000001));
        for bad in [
            "127.1",
            "0177.0.0.1",
            "1.2.3.256",
            "1.2.3.4.5",
            "",
            "1..2.3",
            "٠.0.0.0",
            "2130706433",
            " 1.2.3.4",
            "0x7f.0.0.1",
        ] {
            assert_eq!(parse_ipv4(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn ipv6_as_python_reads_it() {
        assert_eq!(parse_ipv6("::1"), Some(1));
        assert_eq!(parse_ipv6("::"), Some(0));
        assert_eq!(parse_ipv6("::ffff:127.0.0.1"), Some(0xFFFF_7F00_0001));
        assert_eq!(parse_ipv6("fe80::1%eth0"), Some(v6("fe80::1")));
        assert_eq!(parse_ipv6("1:2:3:4:5:6::7"), Some(v6("1:2:3:4:5:6:0:7")));
        assert_eq!(parse_ipv6("1:2:3:4:5:6:7:8"), Some(v6("1:2:3:4:5:6:7:8")));
        for bad in [
            "1:2:3:4:5:6:7:8:9",
            ":1::2",
            "1::2:",
            "1::2::3",
            "12345::",
            "::1%",
            "::1%a%b",
            "1:2",
            "::ffff:1.2.3",
            "g::",
        ] {
            assert_eq!(parse_ipv6(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn networks_as_ip_network_builds_them() {
        let n = ip_network("10.1.2.3/8").unwrap();
        assert_eq!((n.addr, n.prefix), (0x0A000000, 8));
        assert_eq!(ip_network("10.0.0.0/255.0.0.0").unwrap().prefix, 8);
        assert_eq!(ip_network("10.0.0.0/0.255.255.255").unwrap().prefix, 8);
        assert_eq!(ip_network("10.0.0.0/0.0.0.0").unwrap().prefix, 0);
        assert_eq!(ip_network("10.0.0.1").unwrap().prefix, 32);
        assert!(ip_network("10.0.0.0/33").is_none());
        assert!(ip_network("10.0.0.0/255.0.255.0").is_none());
        assert!(ip_network("10.0.0.0/").is_none());
        assert!(ip_network("10.0.0.0/8/8").is_none());
        let v6n = ip_network("2001:db8::1/32").unwrap();
        assert!(v6n.contains(Ip::V6(v6("2001:db8:ffff::1"))));
        assert!(!v6n.contains(Ip::V4(1)));
        assert!(ip_network("::/ffff::").is_none());
    }

    #[test]
    fn urlparse_splits_as_python() {
        let u = urlparse("HTTP://user:pw@Example.COM:8080/a/b;p?q#f").unwrap();
        assert_eq!(u.scheme, "http");
        assert_eq!(u.netloc, "user:pw@Example.COM:8080");
        assert_eq!(u.path, "/a/b");
        assert_eq!(u.hostname().as_deref(), Some("example.com"));
        assert_eq!(u.port(), Ok(Some(8080)));
        let u = urlparse("http://[FE80::1%25Eth0]:80/").unwrap();
        assert_eq!(u.hostname().as_deref(), Some("fe80::1%25Eth0"));
        assert!(urlparse("http://[::1/").is_none());
        assert!(urlparse("http://[127.0.0.1]/").is_none());
        assert_eq!(urlparse("http://h:x/").unwrap().port(), Err(()));
        assert_eq!(urlparse("http://h:99999/").unwrap().port(), Err(()));
        assert_eq!(urlparse("http://h:0080/").unwrap().port(), Ok(Some(80)));
        assert_eq!(urlparse("http://h:/").unwrap().port(), Ok(None));
        assert_eq!(
            urlparse(" \thttp://a\n.com/")
                .unwrap()
                .hostname()
                .as_deref(),
            Some("a.com")
        );
        assert_eq!(urlparse("evil.com/x").unwrap().hostname(), None);
        assert_eq!(
            urlparse("http://evil.com\\@good.com/")
                .unwrap()
                .hostname()
                .as_deref(),
            Some("good.com")
        );
    }

    #[test]
    fn unquote_as_python() {
        assert_eq!(unquote("%31%32%37.0.0.1"), "127.0.0.1");
        assert_eq!(unquote("a%zz%4"), "a%zz%4");
        assert_eq!(unquote("%C3%A9"), "é");
        assert_eq!(unquote("%C3"), "\u{fffd}");
    }

    #[test]
    fn any_spelling_of_an_address_is_an_address() {
        for host in ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7F000001"] {
            assert_eq!(
                host_as_address(host),
                Ok(Some(Ip::V4(0x7F000001))),
                "{host}"
            );
        }
        assert_eq!(host_as_address("example.com"), Ok(None));
        assert_eq!(embedded_v4(v6("64:ff9b::7f00:1")), Some(0x7F000001));
        assert_eq!(embedded_v4(v6("2002:7f00:1::")), Some(0x7F000001));
        assert_eq!(embedded_v4(v6("::127.0.0.1")), Some(0x7F000001));
        let all = Blocks {
            private: true,
            loopback: true,
            metadata: true,
        };
        assert!(address_refused(Ip::V4(0x64400001), all));
        assert!(address_refused(Ip::V6(v6("64:ff9b::a9fe:a9fe")), all));
        assert!(!address_refused(Ip::V4(0x08080808), all));
        assert!(!address_refused(Ip::V6(v6("2606:4700::1111")), all));
    }
}
