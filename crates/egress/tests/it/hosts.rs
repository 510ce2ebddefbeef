//! URL hosts, as the `url` crate (the WHATWG URL parser, which reqwest uses too) normalises them:
//! numeric, hex and octal IPv4 forms become addresses before the policy sees them.

use std::net::{IpAddr, Ipv4Addr};

use egress::{AddressClass, AddressPolicy, Refused};
use proptest::prelude::*;

fn check(policy: AddressPolicy, url: &str) -> Result<(), Refused> {
    let url = url::Url::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"));
    policy.check_host(&url.host().unwrap())
}

const REFUSED_URLS: &[(&str, AddressClass)] = &[
    ("http://127.0.0.1/x", AddressClass::Loopback),
    ("http://127.0.0.1./x", AddressClass::Loopback),
    ("http://127.1/", AddressClass::Loopback),
    ("http://2130706433/", AddressClass::Loopback),
    ("http://0x7f.1/", AddressClass::Loopback),
    ("http://0x7f000001/", AddressClass::Loopback),
    ("http://0177.0.0.1/", AddressClass::Loopback),
    ("http://[::1]:8080/", AddressClass::Loopback),
    ("http://[::127.0.0.1]/x", AddressClass::Loopback),
    ("http://[::ffff:127.0.0.1]/", AddressClass::Loopback),
    ("http://[::ffff:7f00:1]/", AddressClass::Loopback),
    ("http://[64:ff9b::7f00:1]/", AddressClass::Loopback),
    ("http://[2002:7f00:1::1]/", AddressClass::Loopback),
    ("http://[::a9fe:a9fe]/", AddressClass::LinkLocal),
    (
        "http://169.254.169.254/latest/meta-data",
        AddressClass::LinkLocal,
    ),
    ("http://0xa9.0xfe.0xa9.0xfe/", AddressClass::LinkLocal),
    ("http://2852039166/", AddressClass::LinkLocal),
    ("http://0/", AddressClass::Unspecified),
    ("https://198.18.0.1/", AddressClass::Benchmarking),
    ("https://255.255.255.255/", AddressClass::Broadcast),
    ("http://[fd00:ec2::254]/", AddressClass::Private),
    ("http://localhost/", AddressClass::Loopback),
    ("http://LocalHost.:9000/", AddressClass::Loopback),
    ("http://api.localhost/hook", AddressClass::Loopback),
];

#[test]
fn literal_and_localhost_hosts_are_refused_before_any_lookup() {
    for (url, expected) in REFUSED_URLS {
        let refused = check(AddressPolicy::default(), url).unwrap_err();
        assert_eq!(refused.class(), *expected, "{url}: {refused}");
    }
    assert!(matches!(
        check(AddressPolicy::default(), "http://LOCALHOST/"),
        Err(Refused::LocalhostName { host }) if host == "localhost"
    ));
}

#[test]
fn names_are_left_to_the_lookup_and_public_literals_pass() {
    for url in [
        "https://example.com/hook",
        "https://localhost.example.com/",
        "https://notlocalhost/",
        "https://8.8.8.8/",
        "https://134744072/",
        "https://[2606:4700::1111]/",
        "https://[::ffff:8.8.8.8]/",
    ] {
        assert_eq!(check(AddressPolicy::default(), url), Ok(()), "{url}");
    }
}

#[test]
fn allowing_private_networks_allows_every_host() {
    let open = AddressPolicy {
        allow_private_networks: true,
    };
    for (url, _) in REFUSED_URLS {
        assert_eq!(check(open, url), Ok(()), "{url}");
    }
}

proptest! {
    /// The URL parser and the policy agree whichever way an IPv4 address is spelled.
    #[test]
    fn every_spelling_of_an_ipv4_address_is_judged_as_the_address(bits in any::<u32>()) {
        let v4 = Ipv4Addr::from(bits);
        let expected = AddressPolicy::default().check_address(IpAddr::V4(v4));
        let [a, b, c, d] = v4.octets();
        for url in [
            format!("http://{v4}/"),
            format!("http://{bits}/"),
            format!("http://0x{bits:x}/"),
            format!("http://0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}/"),
            format!("http://0{a:o}.0{b:o}.0{c:o}.0{d:o}/"),
            format!("http://{a}.{}/", u32::from_be_bytes([0, b, c, d])),
            format!("http://[::ffff:{v4}]/"),
        ] {
            prop_assert_eq!(&check(AddressPolicy::default(), &url).is_ok(), &expected.is_ok(), "{}", url);
        }
    }
}
