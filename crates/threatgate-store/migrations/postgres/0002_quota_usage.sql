-- API call counts per quota window, shared by every node: each node adds what it counted
-- since its last report and reads back the total.
-- key is "tenant/application/api"; window_index = Unix seconds / length_seconds.
CREATE TABLE quota_usage (
    key            TEXT NOT NULL,
    length_seconds BIGINT NOT NULL,
    window_index   BIGINT NOT NULL,
    calls          BIGINT NOT NULL,
    PRIMARY KEY (key, length_seconds, window_index)
);
CREATE INDEX quota_usage_by_window ON quota_usage (window_index);
