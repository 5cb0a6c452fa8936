/**
 * The hub journal's tables. `sales` holds what the customer and the cashier see (amount, outcome); `requests`
 * holds every signed request of a sale exactly as it left (or will leave) the hub, with its decision once one
 * came. A stored offline capture has no payload until it is forwarded (its envelope is made then).
 * Versioned with PRAGMA user_version; each migration runs in one transaction.
 */
export const journalMigrations: readonly string[] = [
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO meta (key, value) VALUES ('seq_last', 0);
  CREATE TABLE sales (
    sale_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    amount_minor INTEGER NOT NULL CHECK (amount_minor > 0),
    currency TEXT NOT NULL,
    payment_request_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    resolved_at_ms INTEGER
  ) STRICT;
  CREATE INDEX sales_by_time ON sales (created_at_ms);
  CREATE TABLE requests (
    entry_id INTEGER PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    sale_id TEXT NOT NULL REFERENCES sales (sale_id),
    kind TEXT NOT NULL,
    target_request_id TEXT,
    reason TEXT,
    seq INTEGER UNIQUE,
    payload BLOB,
    iat_ms INTEGER,
    exp_ms INTEGER,
    capture BLOB,
    state TEXT NOT NULL CHECK (state IN ('open', 'decided', 'superseded')),
    status TEXT,
    code INTEGER,
    decision BLOB,
    bytes INTEGER NOT NULL DEFAULT 0,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX requests_open ON requests (state, kind, entry_id);
  CREATE INDEX requests_by_sale ON requests (sale_id);
  `,
  // The room check and the prune run on every sale: they read totals kept by the database itself instead of
  // counting every row (on a full journal of 10 000 sales those scans cost a sale ~40× its own writes).
  `
  INSERT INTO meta (key, value) VALUES
    ('open_requests', (SELECT count(*) FROM requests WHERE kind != 'capture' AND state = 'open')),
    ('bytes_total', (SELECT coalesce(sum(bytes), 0) FROM requests)),
    ('sales_total', (SELECT count(*) FROM sales));
  CREATE TRIGGER sales_total_insert AFTER INSERT ON sales BEGIN
    UPDATE meta SET value = value + 1 WHERE key = 'sales_total';
  END;
  CREATE TRIGGER sales_total_delete AFTER DELETE ON sales BEGIN
    UPDATE meta SET value = value - 1 WHERE key = 'sales_total';
  END;
  CREATE TRIGGER requests_totals_insert AFTER INSERT ON requests BEGIN
    UPDATE meta SET value = value + NEW.bytes WHERE key = 'bytes_total';
    UPDATE meta SET value = value + (NEW.kind != 'capture' AND NEW.state = 'open') WHERE key = 'open_requests';
  END;
  CREATE TRIGGER requests_totals_update AFTER UPDATE OF bytes, kind, state ON requests BEGIN
    UPDATE meta SET value = value + NEW.bytes - OLD.bytes WHERE key = 'bytes_total';
    UPDATE meta SET value = value + (NEW.kind != 'capture' AND NEW.state = 'open') - (OLD.kind != 'capture' AND OLD.state = 'open')
      WHERE key = 'open_requests';
  END;
  CREATE TRIGGER requests_totals_delete AFTER DELETE ON requests BEGIN
    UPDATE meta SET value = value - OLD.bytes WHERE key = 'bytes_total';
    UPDATE meta SET value = value - (OLD.kind != 'capture' AND OLD.state = 'open') WHERE key = 'open_requests';
  END;
  `,
];
