-- Suffix lookups of item paths ("Mutex::lock" finds "tokio::sync::Mutex::lock") through an
-- index on the reversed lower-case path, so a LIKE 'prefix%' on it can use the btree.
CREATE INDEX documents_rpath_idx ON documents (reverse(lower(path)) text_pattern_ops);
