-- res_pjsip_multireg: realtime tables for PostgreSQL.
--
-- ps_multireg holds the type=multireg policies when sorcery.conf maps them to realtime:
--   sorcery.conf   [res_pjsip_multireg]
--                  multireg = realtime,ps_multireg
--                  multireg_ringmode = realtime,ps_multireg_ringmode
--                  multireg_push = realtime,ps_multireg_push
--                  multireg_logout = realtime,ps_multireg_logout
--   extconfig.conf ps_multireg => pgsql,general
--                  ps_multireg_ringmode => pgsql,general
--                  ps_multireg_push => pgsql,general
--                  ps_multireg_logout => pgsql,general
-- One row per policy: id is the section name (the endpoint unless the endpoint column says
-- otherwise); every other column is one option of the pjsip.conf form, as text, NULL (or empty)
-- meaning the option's default. Values are validated exactly as in pjsip.conf; a row with a bad
-- value is reported with its id and column, and keeps its last good settings.
-- Realtime drivers split values at ';' (write '^3B' for a literal ';').
--
-- ps_multireg_ringmode holds the ring mode chosen per extension (written by the module).
--
-- Load with: psql -d asterisk -f multireg.sql

CREATE TABLE IF NOT EXISTS ps_multireg (
    id VARCHAR(80) NOT NULL PRIMARY KEY,
    endpoint TEXT,
    max_ip_phones TEXT,
    max_web_clients TEXT,
    max_desktop_clients TEXT,
    max_mobile_clients TEXT,
    at_limit TEXT,
    web_user_agents TEXT,
    mobile_user_agents TEXT,
    desktop_user_agents TEXT,
    dual_registration TEXT,
    secondary_suffix TEXT,
    secondary_max_devices TEXT,
    ring_mode_default TEXT,
    remote_destination TEXT,
    all_busy_mode TEXT,
    max_concurrent_calls TEXT,
    auth_fail_limit TEXT,
    auth_fail_window TEXT,
    auth_block_time TEXT,
    auth_block_exempt TEXT,
    auth_block_ipv6_prefix TEXT,
    ring_mode_prompt TEXT,
    ring_mode_confirm TEXT,
    ring_mode_timeout TEXT,
    all_reject_mode TEXT,
    all_reject_codes TEXT,
    ring_delay_ip_phone TEXT,
    ring_delay_web TEXT,
    ring_delay_desktop TEXT,
    ring_delay_mobile TEXT,
    ring_delay_remote TEXT,
    logout_block_time TEXT,
    push_providers TEXT,
    push_binding_ttl TEXT,
    push_wait TEXT,
    push_always TEXT,
    push_gateway_url TEXT
);

CREATE TABLE IF NOT EXISTS ps_multireg_ringmode (
    id VARCHAR(80) NOT NULL PRIMARY KEY,
    mode VARCHAR(10)
);

-- RFC 8599 push bindings (sorcery type multireg_push): one row per device that can be woken.
-- id is "<endpoint>;<hash of provider and prid>"; times are Unix seconds. The module writes and
-- deletes the rows (at REGISTER, unregister, logout, replacement and expiry).
CREATE TABLE IF NOT EXISTS ps_multireg_push (
    id VARCHAR(120) NOT NULL PRIMARY KEY,
    endpoint VARCHAR(80),
    provider VARCHAR(40),
    prid TEXT,
    param TEXT,
    contact TEXT,
    user_agent TEXT,
    instance TEXT,
    updated_at VARCHAR(20),
    expires_at VARCHAR(20)
);
CREATE INDEX IF NOT EXISTS ps_multireg_push_endpoint ON ps_multireg_push (endpoint);

-- Logged-out devices (sorcery type multireg_logout): refused until blocked_until (Unix seconds).
-- id is a hash of the device key: its +sip.instance, else its REGISTER Call-ID and source address.
CREATE TABLE IF NOT EXISTS ps_multireg_logout (
    id VARCHAR(40) NOT NULL PRIMARY KEY,
    extension VARCHAR(80),
    instance TEXT,
    call_id TEXT,
    address VARCHAR(64),
    blocked_until VARCHAR(20)
);
CREATE INDEX IF NOT EXISTS ps_multireg_logout_extension ON ps_multireg_logout (extension);
