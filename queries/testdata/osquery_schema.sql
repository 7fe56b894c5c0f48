-- osquery tables (and Fleetproof extension tables) that the check catalog reads,
-- with osquery's column names and declared types, so schema_test.go can prepare
-- and run every check query in SQLite as osqueryd would.
--
-- Annotations read by schema_test.go:
--   "-- platforms: a b" on the line before CREATE TABLE: OSes that have the table;
--   "-- only: a b" after a column: the column exists only on those OSes
--   (osquery's extended_schema), so a Linux query cannot use a macOS column.
-- Column collations (version, nocase) are omitted where SQLite lacks them.

-- platforms: darwin linux windows
-- osquery also has hidden pid_with_namespace / mount_namespace_id on Linux (unused).
CREATE TABLE os_version (
  name TEXT,
  version TEXT,
  major INTEGER,
  minor INTEGER,
  patch INTEGER,
  build TEXT,
  platform TEXT,
  platform_like TEXT,
  codename TEXT,
  arch TEXT,
  extra TEXT, -- only: darwin
  install_date BIGINT, -- only: windows
  revision INTEGER -- only: windows
);

-- platforms: darwin linux
CREATE TABLE disk_encryption (
  name TEXT,
  uuid TEXT,
  encrypted INTEGER,
  type TEXT,
  encryption_status TEXT,
  uid TEXT, -- only: darwin
  user_uuid TEXT, -- only: darwin
  filevault_status TEXT -- only: darwin
);

-- platforms: darwin linux
CREATE TABLE mounts (
  device TEXT,
  device_alias TEXT,
  path TEXT,
  type TEXT,
  blocks_size BIGINT,
  blocks BIGINT,
  blocks_free BIGINT,
  blocks_available BIGINT,
  inodes BIGINT,
  inodes_free BIGINT,
  flags TEXT
);

-- platforms: darwin linux windows
-- Partial: osquery has many more columns (memory, threads, times...); these are
-- the ones Fleetproof's built-in Linux engine provides.
CREATE TABLE processes (
  pid BIGINT,
  name TEXT,
  path TEXT,
  cmdline TEXT,
  state TEXT,
  uid BIGINT,
  parent BIGINT
);

-- platforms: darwin
CREATE TABLE plist (
  key TEXT,
  subkey TEXT,
  value TEXT,
  path TEXT
);

-- platforms: darwin
CREATE TABLE managed_policies (
  domain TEXT COLLATE NOCASE,
  uuid TEXT COLLATE NOCASE,
  name TEXT,
  value TEXT,
  username TEXT,
  manual INTEGER
);

-- platforms: darwin
CREATE TABLE alf (
  allow_signed_enabled INTEGER,
  firewall_unload INTEGER,
  global_state INTEGER,
  logging_enabled INTEGER,
  logging_option INTEGER,
  stealth_enabled INTEGER,
  version TEXT
);

-- platforms: darwin
CREATE TABLE gatekeeper (
  assessments_enabled INTEGER,
  dev_id_enabled INTEGER,
  version TEXT,
  opaque_version TEXT
);

-- platforms: darwin
CREATE TABLE sip_config (
  config_flag TEXT,
  enabled INTEGER,
  enabled_nvram INTEGER
);

-- platforms: windows
CREATE TABLE bitlocker_info (
  device_id TEXT,
  drive_letter TEXT,
  persistent_volume_id TEXT,
  conversion_status INTEGER,
  protection_status INTEGER,
  encryption_method TEXT,
  version INTEGER,
  percentage_encrypted INTEGER,
  lock_status INTEGER,
  protector_types TEXT
);

-- platforms: windows
CREATE TABLE registry (
  key TEXT,
  path TEXT,
  name TEXT,
  type TEXT,
  data TEXT,
  mtime BIGINT
);

-- platforms: windows
CREATE TABLE windows_security_center (
  firewall TEXT,
  autoupdate TEXT,
  antivirus TEXT,
  antispyware TEXT,
  internet_settings TEXT,
  windows_security_center_service TEXT,
  user_account_control TEXT
);

-- platforms: windows
CREATE TABLE windows_security_products (
  type TEXT,
  name TEXT,
  state TEXT,
  state_timestamp TEXT,
  remediation_path TEXT,
  signatures_up_to_date INTEGER
);

-- platforms: windows
CREATE TABLE windows_update_history (
  client_app_id TEXT,
  date BIGINT,
  description TEXT,
  hresult BIGINT,
  operation TEXT,
  result_code TEXT,
  server_selection TEXT,
  service_id TEXT,
  support_url TEXT,
  title TEXT,
  update_id TEXT,
  update_revision BIGINT
);

-- platforms: linux
CREATE TABLE iptables (
  filter_name TEXT,
  chain TEXT,
  policy TEXT,
  target TEXT,
  protocol INTEGER,
  src_port TEXT,
  dst_port TEXT,
  src_ip TEXT,
  src_mask TEXT,
  iniface TEXT,
  iniface_mask TEXT,
  dst_ip TEXT,
  dst_mask TEXT,
  outiface TEXT,
  outiface_mask TEXT,
  match TEXT,
  packets INTEGER,
  bytes INTEGER
);

-- Fleetproof extension table, registered by the agent (and built into its engine).
-- platforms: linux
CREATE TABLE fleetproof_auto_updates (
  manager TEXT,
  installed INTEGER,
  enabled INTEGER,
  update_package_lists INTEGER,
  config_source TEXT
);

-- Fleetproof extension table, registered by the agent (and built into its engine).
-- platforms: linux
CREATE TABLE fleetproof_screenlock (
  username TEXT,
  desktop TEXT,
  lock_enabled INTEGER,
  idle_timeout_seconds INTEGER,
  lock_delay_seconds INTEGER,
  source TEXT
);
