// Schema of every service, as ordered migrations for SQLite and PostgreSQL. Times are epoch milliseconds.
import { types, type Dialect, type Migration } from './store.ts';

export const migrations: Migration[] = [
  {
    name: 'core-001-settings',
    sql: `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at BIGINT NOT NULL);`,
  },
  {
    name: 'mail-001-accounts',
    sql: (d: Dialect) => `
      CREATE TABLE mail_domains (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL);
      CREATE TABLE mail_principals (
        id ${types(d).serial},
        name TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        secrets TEXT NOT NULL DEFAULT '[]',
        emails TEXT NOT NULL DEFAULT '[]',
        roles TEXT NOT NULL DEFAULT '[]',
        description TEXT,
        quota BIGINT NOT NULL DEFAULT 0,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE mail_addresses (address TEXT PRIMARY KEY, principal_name TEXT NOT NULL);
      CREATE INDEX mail_addresses_principal ON mail_addresses (principal_name);
      CREATE TABLE mail_dkim_keys (
        id ${types(d).serial},
        domain TEXT NOT NULL,
        selector TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        private_key TEXT NOT NULL,
        public_key TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        created_at BIGINT NOT NULL,
        retired_at BIGINT,
        UNIQUE (domain, selector)
      );`,
  },
  {
    name: 'mail-002-queue',
    sql: (d: Dialect) => `
      CREATE TABLE mail_messages (
        id TEXT PRIMARY KEY,
        mail_from TEXT NOT NULL,
        header_message_id TEXT,
        env_id TEXT,
        dsn_ret TEXT,
        size BIGINT NOT NULL,
        raw ${types(d).blob} NOT NULL,
        source TEXT NOT NULL,
        auth_user TEXT,
        remote_ip TEXT,
        is_dsn INTEGER NOT NULL DEFAULT 0,
        received_at BIGINT NOT NULL
      );
      CREATE INDEX mail_messages_header_id ON mail_messages (header_message_id);
      CREATE TABLE mail_recipients (
        message_id TEXT NOT NULL REFERENCES mail_messages (id) ON DELETE CASCADE,
        rcpt TEXT NOT NULL,
        domain TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        notify TEXT,
        orcpt TEXT,
        last_code INTEGER,
        last_reply TEXT,
        delay_notified INTEGER NOT NULL DEFAULT 0,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (message_id, rcpt)
      );
      CREATE INDEX mail_recipients_due ON mail_recipients (status, next_attempt_at);
      CREATE TABLE mail_events (
        id ${types(d).serial},
        message_id TEXT NOT NULL,
        rcpt TEXT,
        type TEXT NOT NULL,
        at BIGINT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
      );
      CREATE INDEX mail_events_message ON mail_events (message_id);
      CREATE TABLE mail_mailbox (
        id ${types(d).serial},
        mailbox TEXT NOT NULL,
        message_id TEXT,
        mail_from TEXT,
        rcpt TEXT,
        raw ${types(d).blob} NOT NULL,
        flags TEXT NOT NULL DEFAULT '[]',
        received_at BIGINT NOT NULL
      );
      CREATE INDEX mail_mailbox_box ON mail_mailbox (mailbox, id);
      CREATE TABLE mail_webhook_outbox (
        id ${types(d).serial},
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_until BIGINT,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX mail_webhook_outbox_due ON mail_webhook_outbox (next_attempt_at);`,
  },
  {
    name: 'notify-001-notifications',
    sql: (d: Dialect) => `
      CREATE TABLE notify_notifications (
        id TEXT PRIMARY KEY,
        user_id TEXT,
        app_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        template_id TEXT,
        subject TEXT,
        body TEXT,
        text_body TEXT,
        data TEXT,
        status TEXT NOT NULL DEFAULT 'pending',
        priority TEXT NOT NULL DEFAULT 'normal',
        scheduled_for BIGINT,
        recipient TEXT,
        recipients TEXT,
        external_id TEXT UNIQUE,
        idempotency_key TEXT UNIQUE,
        options TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        smtp_message_id TEXT,
        mail_queue_id TEXT,
        delivered_at BIGINT,
        error_message TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX notify_notifications_due ON notify_notifications (status, next_attempt_at);
      CREATE INDEX notify_notifications_smtp_id ON notify_notifications (smtp_message_id);
      CREATE INDEX notify_notifications_user ON notify_notifications (user_id);
      CREATE TABLE notify_delivery_logs (
        id ${types(d).serial},
        notification_id TEXT NOT NULL REFERENCES notify_notifications (id) ON DELETE CASCADE,
        attempt_number INTEGER NOT NULL,
        channel TEXT NOT NULL,
        success INTEGER NOT NULL,
        status_code INTEGER,
        error_message TEXT,
        provider_id TEXT,
        provider TEXT,
        event TEXT,
        duration_ms INTEGER,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX notify_delivery_logs_notification ON notify_delivery_logs (notification_id);
      CREATE TABLE notify_templates (
        id TEXT PRIMARY KEY,
        slug TEXT NOT NULL,
        app_id TEXT,
        channel TEXT NOT NULL,
        subject TEXT,
        body_template TEXT NOT NULL,
        text_template TEXT,
        locale TEXT NOT NULL DEFAULT 'de-DE',
        is_active INTEGER NOT NULL DEFAULT 1,
        is_system INTEGER NOT NULL DEFAULT 0,
        variables TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (slug, locale)
      );
      CREATE TABLE notify_preferences (
        user_id TEXT PRIMARY KEY,
        email_enabled INTEGER NOT NULL DEFAULT 0,
        push_enabled INTEGER NOT NULL DEFAULT 1,
        quiet_hours_enabled INTEGER NOT NULL DEFAULT 0,
        quiet_hours_start TEXT,
        quiet_hours_end TEXT,
        timezone TEXT NOT NULL DEFAULT 'Europe/Berlin',
        category_preferences TEXT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );`,
  },
  {
    name: 'auth-001-outbox',
    sql: () => `
      CREATE TABLE auth_outbox (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        recipient TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        last_error TEXT,
        notification_id TEXT,
        created_at BIGINT NOT NULL,
        sent_at BIGINT
      );
      CREATE INDEX auth_outbox_due ON auth_outbox (status, next_attempt_at);`,
  },
  {
    name: 'notify-002-mail-events',
    sql: () => `
      CREATE TABLE notify_mail_events (
        id TEXT PRIMARY KEY,
        notification_id TEXT,
        type TEXT NOT NULL,
        message_id TEXT,
        queue_id TEXT,
        recipient TEXT,
        at BIGINT NOT NULL,
        received_at BIGINT NOT NULL
      );
      CREATE INDEX notify_mail_events_notification ON notify_mail_events (notification_id);`,
  },
  {
    name: 'notify-003-devices',
    sql: () => `
      CREATE TABLE notify_devices (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        push_token TEXT NOT NULL UNIQUE,
        token_type TEXT NOT NULL DEFAULT 'expo',
        platform TEXT,
        device_name TEXT,
        app_id TEXT,
        is_active INTEGER NOT NULL DEFAULT 1,
        last_seen_at BIGINT,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE INDEX notify_devices_user ON notify_devices (user_id);`,
  },
  {
    name: 'mail-003-bans',
    sql: () => `
      CREATE TABLE mail_bans (
        ip TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        banned_at BIGINT NOT NULL,
        expires_at BIGINT
      );
      CREATE INDEX mail_bans_expiry ON mail_bans (expires_at);`,
  },
  {
    name: 'notify-004-claim-index',
    sql: () => `CREATE INDEX notify_notifications_claim ON notify_notifications (status, channel, next_attempt_at);`,
  },
  {
    name: 'auth-002-once',
    sql: `CREATE TABLE auth_once (kind TEXT NOT NULL, user_id TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (kind, user_id));`,
  },
  {
    // Addresses that hard-bounced (RFC 3464 DSN with a 5.x.x status) or were added by hand: deliveries to them fail at once.
    // env_id is indexed for matching a DSN's Original-Envelope-Id (RFC 3464 §2.2.1) to the message it reports on.
    name: 'mail-004-suppressions',
    sql: () => `
      CREATE TABLE mail_suppressions (
        address TEXT PRIMARY KEY,
        reason TEXT,
        source_message_id TEXT,
        created_at BIGINT
      );
      CREATE INDEX mail_messages_env_id ON mail_messages (env_id);`,
  },
  {
    // DMARC aggregate reports (RFC 7489 §7.2, Appendix C) and TLS reports (RFC 8460 §4) that arrived for postmaster@; one row per
    // report: a report sent twice (same kind, organisation and report id) is kept once. summary and body are JSON; times are epoch ms.
    name: 'mail-005-reports',
    sql: (d: Dialect) => `
      CREATE TABLE mail_reports (
        id ${types(d).serial},
        kind TEXT NOT NULL,
        org TEXT NOT NULL,
        report_id TEXT NOT NULL,
        domain TEXT NOT NULL,
        begin_at BIGINT NOT NULL,
        end_at BIGINT NOT NULL,
        summary TEXT NOT NULL,
        body TEXT NOT NULL,
        message_id TEXT,
        received_at BIGINT NOT NULL,
        UNIQUE (kind, org, report_id)
      );
      CREATE INDEX mail_reports_list ON mail_reports (kind, domain, begin_at);`,
  },
];
