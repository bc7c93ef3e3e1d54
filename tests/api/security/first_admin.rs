//! The first admin's generated password on disk (`data/initial-admin-password`): it
//! stays while it still works, and goes with the first password change that succeeds.

use crate::helpers::{PASSWORD, TestApp};

#[tokio::test]
async fn initial_admin_password_file_goes_with_the_first_password_change() {
    let app = TestApp::spawn().await;
    let file = app.data_dir.join("initial-admin-password");
    assert!(file.exists(), "written at first start");

    // another user's password change leaves it
    app.user("alice", "customer_member", None).await;
    let mut alice = app.client();
    assert_eq!(alice.login("alice", PASSWORD).await.status(), 303);
    let other = "Other!pass9";
    let res = alice
        .post_form(
            "/password",
            &[("current", PASSWORD), ("new", other), ("confirm", other)],
        )
        .await;
    assert_eq!(res.status(), 303);
    assert!(file.exists(), "not alice's password");

    let mut s = app.client();
    assert_eq!(
        s.login("admin", &app.admin_password).await.headers()["location"],
        "/password"
    );
    // failed changes leave it: a wrong current password, a weak new one
    for (why, current, new) in [
        ("wrong current", "Wrong!pass1", PASSWORD),
        ("weak new", app.admin_password.as_str(), "weakpass"),
    ] {
        let res = s
            .post_form(
                "/password",
                &[("current", current), ("new", new), ("confirm", new)],
            )
            .await;
        assert_eq!(res.status(), 422, "{why}");
        assert!(file.exists(), "{why}: the password in it still works");
    }

    let res = s.change_password(&app.admin_password, PASSWORD).await;
    assert_eq!(res.status(), 303);
    assert!(!file.exists(), "gone once the password was changed");
    assert!(app.data_dir.exists(), "only the file goes");
}
