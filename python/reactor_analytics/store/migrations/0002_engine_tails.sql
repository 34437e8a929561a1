-- Change sequences the query engine tails: identity links and traits, like events, carry a
-- `seq` that grows with every insert (and, for traits, every update).

ALTER TABLE identity_links ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
CREATE INDEX identity_links_seq ON identity_links (seq);

CREATE SEQUENCE person_traits_seq;
ALTER TABLE person_traits ADD COLUMN seq bigint NOT NULL DEFAULT nextval('person_traits_seq');
CREATE INDEX person_traits_seq_idx ON person_traits (seq);
