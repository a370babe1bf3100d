-- Every type class serialises exactly as to_jsonb() renders it
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE pair AS (x int, y text);
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN tags AS text[];
CREATE TABLE everything (
	id bigint PRIMARY KEY,
	i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision,
	num numeric, num_nan numeric, f8_inf double precision, f8_nan double precision,
	f8_negzero double precision,
	b boolean, t text, vc varchar(10), c char(5), nm name,
	by bytea, d date, ts timestamp, tstz timestamptz, tm time, tmtz timetz,
	iv interval, d_inf date, ts_inf timestamp, tstz_ninf timestamptz,
	u uuid, js json, jsb jsonb, ia int[], ta text[][], nested int[][],
	e mood, comp pair, comps pair[], dom posint, dom_arr tags,
	r int4range, tr tstzrange, ip inet, cidr_col cidr, mac macaddr,
	pt point, bits bit varying, x xml, money_col money, oid_col oid,
	ctl text, uni text, nul text
);
SELECT webhook.subscribe('everything', 'shop');
SET timezone = 'UTC';
SET extra_float_digits = 0;
INSERT INTO everything VALUES (
	1, 32767, -2147483648, 9223372036854775807, 1.5, 3.141592653589793,
	12345678901234567890.000000000001, 'NaN', 'Infinity', 'NaN', '-0',
	true, 'plain', 'varchar', 'ab', 'a_name',
	'\xdeadbeef', '2026-11-28', '2026-11-28 12:00:00.123456',
	'2026-11-28 12:00:00.5+02', '12:34:56', '12:34:56+05:30',
	'1 year 2 mons 3 days 04:05:06.7', 'infinity', 'infinity', '-infinity',
	'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50, null], "b" : "x"}',
	'{"z": 1, "a": {"n": null}}', '{1,NULL,3}', '{{a,b},{"c d","e\"f"}}',
	'{{1,2},{3,4}}', 'happy', ROW(1, 'one'), ARRAY[ROW(2, 'two')::pair, NULL],
	42, '{x,y}', '[1,10)', '[2026-01-01,2026-02-01)', '192.168.0.1/24',
	'10.0.0.0/8', '08:00:2b:01:02:03', '(1.5,2)', B'1011', '<a>b</a>', 12.34,
	4294967295, E'tab\there\nnew "quoted" back\\slash \u0001 bell\u0007',
	E'snowman \u2603 emoji \U0001F600 escape-looking \\u0000 and \\ud800', NULL);
INSERT INTO everything (id) VALUES (2);

-- the body's row equals to_jsonb() of the row, column for column
SELECT k AS column_differs, to_jsonb(rowv) -> k AS expected, (ev.payload::jsonb -> 'data' -> 'new') -> k AS got
FROM everything rowv
JOIN webhook.event ev ON (ev.payload::jsonb -> 'data' -> 'new' ->> 'id')::bigint = rowv.id,
	 LATERAL jsonb_object_keys(to_jsonb(rowv)) k
WHERE (to_jsonb(rowv) -> k) IS DISTINCT FROM (ev.payload::jsonb -> 'data' -> 'new' -> k);
SELECT count(*) AS rows_equal FROM everything rowv
JOIN webhook.event ev ON (ev.payload::jsonb -> 'data' -> 'new' ->> 'id')::bigint = rowv.id
WHERE ev.payload::jsonb -> 'data' -> 'new' = to_jsonb(rowv);

-- and what a receiver sees, literally
SELECT jsonb_pretty(payload::jsonb -> 'data' -> 'new') FROM webhook.event
WHERE (payload::jsonb -> 'data' -> 'new' ->> 'id') = '1';

-- every body is valid JSON text
SELECT count(*) AS valid_json FROM webhook.event WHERE payload::text::jsonb IS NOT NULL;

-- an UPDATE of a TOASTed column, and one that leaves it alone
TRUNCATE webhook.event;
UPDATE everything SET t = repeat('long ', 100000) WHERE id = 1;
UPDATE everything SET i2 = 1 WHERE id = 1;
SELECT payload::jsonb -> 'data' -> 'changed' AS changed,
	   length(payload::jsonb -> 'data' -> 'new' ->> 't') AS new_t_len
FROM webhook.event ORDER BY id;
SELECT webhook.unsubscribe('everything', 'shop');
TRUNCATE webhook.event;
