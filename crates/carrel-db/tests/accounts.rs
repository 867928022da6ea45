//! The accounts contract on both backends: unique addresses, sessions that
//! expire and end, tokens that are found by hash and revoked, one-time
//! resets and invitations that work exactly once.

use carrel_core::account::{Role, Scopes};
use carrel_core::ids::{Secret, TokenId};
use carrel_core::time::Timestamp;
use carrel_db::accounts::*;
use carrel_db::*;

mod common;
use common::{account, backends, email_filter};

#[tokio::test]
async fn accounts_sessions_and_tokens_on_every_backend() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let ada = account("ada@example.org");
        db.create_account(&ada, None).await.unwrap();
        let mut twin = account("ADA@example.org");
        twin.email = "ada@example.org".parse().unwrap();
        assert!(
            matches!(db.create_account(&twin, None).await, Err(DbError::Conflict)),
            "{b:?}: a second account with the same address"
        );
        let got = db
            .account_by_email(&"ada@example.org".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got, ada, "{b:?}");
        assert_eq!(db.count_accounts().await.unwrap(), 1);
        db.create_account(&account("bob@example.net"), None)
            .await
            .unwrap();
        let found = db
            .search_accounts(&email_filter("EXAMPLE.n"), "", 10)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{b:?}");
        assert_eq!(found[0].email.as_str(), "bob@example.net");
        // LIKE wildcards are plain characters here.
        assert!(
            db.search_accounts(&email_filter("%"), "", 10)
                .await
                .unwrap()
                .is_empty()
        );

        // Sessions: found until they expire, ended one by one or all at once.
        let s1 = Secret::generate();
        let s2 = Secret::generate();
        for s in [&s1, &s2] {
            db.create_session(&NewSession {
                token_hash: s.hash(),
                account: ada.id.clone(),
                expires_at: Timestamp(2000),
                created_at: Timestamp(1000),
            })
            .await
            .unwrap();
        }
        assert!(
            db.session_account(&s1.hash(), Timestamp(1999))
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            db.session_account(&s1.hash(), Timestamp(2000))
                .await
                .unwrap()
                .is_none(),
            "{b:?}: an expired session"
        );
        // A password change ends every other session.
        assert!(
            db.set_password(&ada.id, "$argon2id$new", Some(&s1.hash()))
                .await
                .unwrap()
        );
        assert!(
            db.session_account(&s2.hash(), Timestamp(1500))
                .await
                .unwrap()
                .is_none()
        );
        let me = db
            .session_account(&s1.hash(), Timestamp(1500))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(me.password_hash, "$argon2id$new");
        assert_eq!(db.delete_sessions(&ada.id).await.unwrap(), 1);

        // Suspension ends sessions too.
        let s3 = Secret::generate();
        db.create_session(&NewSession {
            token_hash: s3.hash(),
            account: ada.id.clone(),
            expires_at: Timestamp(5000),
            created_at: Timestamp(1000),
        })
        .await
        .unwrap();
        assert!(
            db.set_suspended(&ada.id, Some(Timestamp(1200)))
                .await
                .unwrap()
        );
        assert!(
            db.session_account(&s3.hash(), Timestamp(1500))
                .await
                .unwrap()
                .is_none()
        );
        assert!(db.set_suspended(&ada.id, None).await.unwrap());
        assert!(db.set_role(&ada.id, Role::Admin).await.unwrap());
        assert_eq!(
            db.account(&ada.id).await.unwrap().unwrap().role,
            Role::Admin
        );

        // Tokens: by hash, scoped, use noted, revoked by their owner only.
        let secret = Secret::generate();
        let tok = ApiToken {
            id: TokenId::generate(),
            account: ada.id.clone(),
            name: "backup script".into(),
            token_hash: secret.hash(),
            scopes: "read upload".parse::<Scopes>().unwrap(),
            created_at: Timestamp(1000),
            last_used_at: None,
        };
        db.create_token(&tok).await.unwrap();
        let (t, a) = db
            .token_account(&secret.hash(), Timestamp(1100))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.id.clone(), a.id.clone(), t.scopes),
            (tok.id.clone(), ada.id.clone(), tok.scopes)
        );
        let listed = db.tokens(&ada.id).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].last_used_at, Some(Timestamp(1100)), "{b:?}");
        assert!(
            db.token_account(&Secret::generate().hash(), Timestamp(1100))
                .await
                .unwrap()
                .is_none()
        );
        let bob = db
            .account_by_email(&"bob@example.net".parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            !db.delete_token(&bob.id, &tok.id).await.unwrap(),
            "{b:?}: someone else's token"
        );
        assert!(db.delete_token(&ada.id, &tok.id).await.unwrap());
        assert!(
            db.token_account(&secret.hash(), Timestamp(1200))
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn resets_and_invitations_work_once_on_every_backend() {
    for (db, _dir) in backends().await {
        let b = db.backend();
        let ada = account("ada@example.org");
        db.create_account(&ada, None).await.unwrap();
        let session = Secret::generate();
        db.create_session(&NewSession {
            token_hash: session.hash(),
            account: ada.id.clone(),
            expires_at: Timestamp(9000),
            created_at: Timestamp(1000),
        })
        .await
        .unwrap();
        let (r1, r2, old) = (Secret::generate(), Secret::generate(), Secret::generate());
        for (s, exp) in [(&r1, 2000), (&r2, 2000), (&old, 1100)] {
            db.create_reset(&OneTimeToken {
                token_hash: s.hash(),
                account: Some(ada.id.clone()),
                expires_at: Timestamp(exp),
                created_at: Timestamp(1000),
            })
            .await
            .unwrap();
        }
        assert_eq!(
            db.reset_password(&old.hash(), "$x", Timestamp(1500))
                .await
                .unwrap(),
            None,
            "{b:?}: an expired reset"
        );
        assert_eq!(
            db.reset_password(&r1.hash(), "$reset", Timestamp(1500))
                .await
                .unwrap(),
            Some(ada.id.clone())
        );
        assert_eq!(
            db.account(&ada.id).await.unwrap().unwrap().password_hash,
            "$reset"
        );
        assert!(
            db.session_account(&session.hash(), Timestamp(1500))
                .await
                .unwrap()
                .is_none(),
            "{b:?}: a reset ends sessions"
        );
        assert_eq!(
            db.reset_password(&r1.hash(), "$again", Timestamp(1501))
                .await
                .unwrap(),
            None,
            "{b:?}: a reset token used twice"
        );
        assert_eq!(
            db.reset_password(&r2.hash(), "$again", Timestamp(1501))
                .await
                .unwrap(),
            None,
            "{b:?}: the account's other reset tokens die with the used one"
        );

        let inv = Secret::generate();
        db.create_invitation(&OneTimeToken {
            token_hash: inv.hash(),
            account: Some(ada.id.clone()),
            expires_at: Timestamp(5000),
            created_at: Timestamp(1000),
        })
        .await
        .unwrap();
        let mut c1 = account("c1@example.org");
        c1.created_at = Timestamp(1600);
        db.create_account(&c1, Some(&inv.hash())).await.unwrap();
        let mut c2 = account("c2@example.org");
        c2.created_at = Timestamp(1601);
        assert!(
            matches!(
                db.create_account(&c2, Some(&inv.hash())).await,
                Err(DbError::NotFound)
            ),
            "{b:?}: an invitation used twice"
        );
        assert!(
            db.account_by_email(&c2.email).await.unwrap().is_none(),
            "{b:?}: no account is left behind by a refused invitation"
        );
        assert!(
            db.purge_expired_credentials(Timestamp(10_000))
                .await
                .unwrap()
                >= 1
        );
    }
}
