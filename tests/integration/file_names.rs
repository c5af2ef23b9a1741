//! File names in any script, end to end: upload with `Content-Disposition` `filename*`
//! (RFC 6266 §4.1, RFC 8187 §3.2), the primary's download field (RFC 6266 §4.3 and
//! appendix D: an ASCII `filename`, then `filename*`), the partner's replay of it as the
//! primary sent it (RFC 9111 §3.1), the FD request's metadata between two MCData servers,
//! and `mcdata client download` saving under the name, never replacing a file unless
//! forced. Names that cannot be kept are refused with 400, never repaired.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use mcdata::client::{handle_request, Decision, EventStream, FdEvent, SendFd};
use mcdata::client_cli::{save_download, Output};

use crate::harness::*;

const NAME: &str = "Einsatzbericht_München_화재.pdf";
const NAME_EXT: &str = "Einsatzbericht_M%C3%BCnchen_%ED%99%94%EC%9E%AC.pdf";

fn served_disposition() -> String {
    format!("attachment; filename=\"Einsatzbericht_Munchen___.pdf\"; filename*=UTF-8''{NAME_EXT}")
}

async fn upload_with(sys: &System, headers: &[(&str, &str)]) -> Resp {
    request(
        Method::POST,
        &format!("{}/files", sys.base()),
        headers,
        Bytes::from_static(b"%PDF-1.7 report"),
    )
    .await
}

#[tokio::test]
async fn a_non_ascii_name_is_kept_served_and_replayed_by_the_partner() {
    let (a, b) = pair().await;
    let cd = format!("attachment; filename=\"Einsatzbericht.pdf\"; filename*=UTF-8''{NAME_EXT}");
    let r = upload_with(
        &a,
        &[
            ("content-type", "application/pdf"),
            ("content-disposition", &cd),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    // RFC 6266 §4.3: filename* is preferred over filename.
    assert_eq!(r.json()["file_name"], NAME);
    let url = r.header("location").to_string();

    let at_a = get(&url, &[]).await;
    assert_eq!(at_a.status, StatusCode::OK);
    assert_eq!(at_a.header("content-disposition"), served_disposition());
    // The partner replays the primary's field byte for byte, on the miss and on the hit.
    for expected in ["MISS", "HIT"] {
        let at_b = get(&b.via(&url), &[]).await;
        assert_eq!(at_b.status, StatusCode::OK);
        assert_eq!(at_b.header("x-cache"), expected);
        assert_eq!(
            at_b.headers["content-disposition"].as_bytes(),
            at_a.headers["content-disposition"].as_bytes()
        );
        assert_eq!(at_b.bytes().as_ref(), b"%PDF-1.7 report");
    }
    // HEAD says the same (RFC 9110 §9.3.2).
    let head = request(Method::HEAD, &url, &[], Bytes::new()).await;
    assert_eq!(head.header("content-disposition"), served_disposition());
}

#[tokio::test]
async fn names_in_every_accepted_form() {
    let (a, _b) = pair().await;
    let ok = |r: Resp| {
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.json()["file_name"].as_str().map(str::to_string)
    };
    // Raw UTF-8 in a quoted filename (obs-text, RFC 9110 §5.5), as browsers send it.
    let raw = format!("attachment; filename=\"{NAME}\"");
    let r = upload_with(&a, &[("content-disposition", &raw)]).await;
    assert_eq!(ok(r).as_deref(), Some(NAME));
    // ISO-8859-1 ext-values must be understood (RFC 8187 §3.2.1).
    let r = upload_with(
        &a,
        &[(
            "content-disposition",
            "attachment; filename*=ISO-8859-1'de'M%FCnchen.txt",
        )],
    )
    .await;
    assert_eq!(ok(r).as_deref(), Some("München.txt"));
    // X-Mcdata-File-Name: its UTF-8 as it is.
    let r = upload_with(&a, &[("x-mcdata-file-name", NAME)]).await;
    assert_eq!(ok(r).as_deref(), Some(NAME));
    // An ASCII name is served as before, without filename*.
    let r = upload_with(&a, &[("x-mcdata-file-name", "report.txt")]).await;
    let url = r.header("location").to_string();
    assert_eq!(ok(r).as_deref(), Some("report.txt"));
    assert_eq!(
        get(&url, &[]).await.header("content-disposition"),
        "attachment; filename=\"report.txt\""
    );
    // No name at all: no Content-Disposition.
    let r = upload_with(&a, &[]).await;
    let url = r.header("location").to_string();
    assert_eq!(ok(r), None);
    assert!(get(&url, &[])
        .await
        .headers
        .get("content-disposition")
        .is_none());
}

#[tokio::test]
async fn names_that_cannot_be_kept_are_refused_not_repaired() {
    let (a, _b) = pair().await;
    for (cd, why) in [
        (
            "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
            "path separator",
        ),
        (
            "attachment; filename=\"C:\\\\temp\\\\x.pdf\"",
            "path separator",
        ),
        (
            "attachment; filename*=UTF-8''a%0Ab.pdf",
            "control character",
        ),
        (
            "attachment; filename*=UTF-8''a%00b.pdf",
            "control character",
        ),
        // U+202E RIGHT-TO-LEFT OVERRIDE: "invoice_\u{202E}fdp.exe" shows as "invoice_exe.pdf".
        (
            "attachment; filename*=UTF-8''invoice_%E2%80%AEfdp.exe",
            "control character",
        ),
        ("attachment; filename=\"..\"", "names a directory"),
        ("attachment; filename*=UTF-8''%ZZ.pdf", "'%'"),
        ("attachment; filename*=UTF-8''%C3.pdf", "UTF-8"),
        ("attachment; filename*=KOI8-R''%E1.txt", "charset"),
        ("attachment; filename=a.pdf; filename=b.pdf", "twice"),
        ("attachment; filename=\"open.pdf", "unterminated"),
    ] {
        let r = upload_with(&a, &[("content-disposition", cd)]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{cd}");
        let reason = r.json()["reason"].as_str().unwrap_or("").to_string();
        assert!(reason.contains(why), "{cd}: {reason}");
    }
    let long = "화".repeat(86);
    let r = upload_with(&a, &[("x-mcdata-file-name", &long)]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["reason"].as_str().unwrap().contains("255 bytes"));
    // Nothing was stored for any of them.
    assert!(
        !a.stored_files().iter().any(|f| f.starts_with("files/")),
        "{:?}",
        a.stored_files()
    );
}

async fn next(events: &mut EventStream) -> FdEvent {
    tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("event decodes")
        .1
}

/// Upload at A, FD request to B (the MCData server takes the name from its content
/// server's HEAD), the name in the FD SIGNALLING PAYLOAD's metadata (UTF-8), then Bob's
/// downloads through B's content server: the listener's and `mcdata client download`'s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_name_survives_the_file_distribution_between_two_systems() {
    let t = crate::fd::two_systems(|_| {}, |_| {}).await;
    let mut bob_ev = t.bob.events(None).await.unwrap();
    let data = data(64 * 1024, 7);
    let up = t
        .alice
        .upload_bytes(Bytes::from(data.clone()), NAME, "application/pdf", None)
        .await
        .unwrap();
    assert_eq!(up.file_name.as_deref(), Some(NAME));
    // No metadata from the client: A's MCData server asks its content server.
    let sent = t
        .alice
        .send_fd(&SendFd {
            to: "bob@b".into(),
            file_url: up.url.clone(),
            metadata: None,
            conversation_id: None,
            mandatory_download: false,
            download_report: false,
        })
        .await
        .unwrap();
    let FdEvent::Request(incoming) = next(&mut bob_ev).await else {
        panic!("expected an FD request")
    };
    assert_eq!(incoming.message_id, sent.message_id);
    assert_eq!(incoming.metadata.name.as_deref(), Some(NAME));
    let prefixed = format!("{}/{}", t.b.content.base(), up.url);
    assert_eq!(incoming.file_url, prefixed);
    // B's content server names it as A did.
    let info = t.bob.file_info(&prefixed).await.unwrap();
    assert_eq!(info.name.as_deref(), Some(NAME));

    // The listener's download goes under the metadata name.
    let inbox = tempfile::tempdir().unwrap();
    let h = handle_request(
        &t.bob,
        &incoming,
        Decision::Accept,
        Some(inbox.path()),
        false,
    )
    .await
    .unwrap();
    assert_eq!(h.saved.as_deref(), Some(inbox.path().join(NAME).as_path()));
    assert_eq!(std::fs::read(inbox.path().join(NAME)).unwrap(), data);

    // `mcdata client download`: the Content-Disposition name, in the directory.
    let dir = tempfile::tempdir().unwrap();
    let out = Output::Dir(dir.path().into());
    let (saved, d) = save_download(&t.bob, &prefixed, out.clone(), false, |_, _| {})
        .await
        .unwrap();
    assert_eq!(saved, Some(dir.path().join(NAME)));
    assert_eq!(d.file_name.as_deref(), Some(NAME));
    assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
    // Again: the file is there, so nothing is replaced, and no part file is left.
    std::fs::write(dir.path().join(NAME), b"mine").unwrap();
    let e = save_download(&t.bob, &prefixed, out.clone(), false, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(e, mcdata::client::ClientError::Exists(ref p) if *p == dir.path().join(NAME)),
        "{e}"
    );
    assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), b"mine");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // --force replaces it.
    save_download(&t.bob, &prefixed, out, true, |_, _| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(dir.path().join(NAME)).unwrap(), data);
    // An --output path wins over the server's name, and is not replaced either.
    let chosen = dir.path().join("chosen.pdf");
    let (saved, _) = save_download(
        &t.bob,
        &prefixed,
        Output::File(chosen.clone()),
        false,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(saved, Some(chosen.clone()));
    assert_eq!(std::fs::read(&chosen).unwrap(), data);
    let e = save_download(&t.bob, &prefixed, Output::File(chosen), false, |_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(e, mcdata::client::ClientError::Exists(_)), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// A name from the server that is not safe as a path (an old record, another primary):
/// the client keeps its last component only, else falls back to the URL's UUID.
#[tokio::test]
async fn unsafe_served_names_are_made_safe_by_the_client() {
    let (a, _b) = pair().await;
    let dir = tempfile::tempdir().unwrap();
    let client = mcdata::client::McDataClient::new("x", "", &a.base(), &a.base());
    // Upload without a name, so the URL's UUID is the fallback.
    let r = upload_with(&a, &[]).await;
    let url = r.header("location").to_string();
    let id = url.rsplit('/').next().unwrap().to_string();
    let (saved, _) = save_download(
        &client,
        &url,
        Output::Dir(dir.path().into()),
        false,
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(saved, Some(dir.path().join(&id)));
    assert_eq!(
        mcdata::client_cli::name_for(Some("../../.bashrc"), &url),
        ".bashrc"
    );
    assert_eq!(mcdata::client_cli::name_for(Some("/"), &url), id);
}
