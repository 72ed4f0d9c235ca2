import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseTerm, tlsOptionsFromOptfile } from "./_tls_optfile.ts";

function withFile(text: string, fn: (path: string, dir: string) => void) {
  const dir = mkdtempSync(join(tmpdir(), "optfile-test-"));
  try {
    const path = join(dir, "tls.conf");
    writeFileSync(path, text);
    fn(path, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("an ssl_dist_optfile as OTP's documentation writes it", () => {
  withFile(
    `%% TLS distribution
[{server,
  [{certfile, "/etc/ssl/node.pem"},   % the node's certificate
   {keyfile, "key.pem"},
   {cacertfile, <<"/etc/ssl/ca.pem">>},
   {verify, verify_peer},
   {fail_if_no_peer_cert, true},
   {secure_renegotiate, true},
   {versions, ['tlsv1.3']},
   {depth, 2}]},
 {client,
  [{certfile, "/etc/ssl/node.pem"},
   {keyfile, "key.pem"},
   {password, "s3cr\\"et"},
   {verify, verify_peer}]}].
`,
    (path, dir) => {
      assert.deepEqual(tlsOptionsFromOptfile(path), {
        cert: "/etc/ssl/node.pem",
        key: join(dir, "key.pem"),
        ca: "/etc/ssl/ca.pem",
        verify: true,
        passphrase: 's3cr"et',
        minVersion: "TLSv1.3",
      });
    },
  );
});

test("the key may be in the certificate file; verify_none turns checks off", () => {
  withFile(
    `[{server, [{certfile, "/n.pem"}, {verify, verify_none}]}].`,
    (path) => {
      assert.deepEqual(tlsOptionsFromOptfile(path), {
        cert: "/n.pem",
        key: "/n.pem",
        ca: undefined,
        verify: false,
      });
    },
  );
});

test("bad option files are refused with the file, the line and the cause", () => {
  const cases: Array<[string, RegExp]> = [
    [
      `[{server, [{certfile, "/a.pem"}]}]`,
      /tls\.conf:1: expected \. after the term/,
    ],
    [`[{server, [{certfile, "/a.pem}]}].`, /unterminated string/],
    [
      `[{server,\n [{certfile, "/a.pem"} {keyfile, "k"}]}].`,
      /tls\.conf:2: expected , or \]/,
    ],
    [`[{server, [{keyfile, "/k.pem"}]}].`, /no certfile/],
    [`[{other, []}].`, /neither \{server, \[\.\.\.\]\} nor \{client/],
    [`{server, []}.`, /must be a list of options/],
    [
      `[{server, [{certfile, "/a.pem"}]}, {client, [{certfile, "/b.pem"}]}].`,
      /server and client name different certfiles .*noderl uses one for both directions/,
    ],
    [
      `[{server, [{certfile, "/a.pem"}, {verify, maybe}]}].`,
      /verify must be verify_peer or verify_none/,
    ],
    [`[{server, [{certfile, 42}]}].`, /certfile must be a string/],
    [`[{server, [{certfile, "/a.pem"}]}]. [].`, /expected one term only/],
    [`[${"[".repeat(100)}`, /nested too deeply/],
    [`[{server, [{certfile, "/a.pem"}, #{}]}].`, /unexpected "#"/],
  ];
  for (const [text, re] of cases) {
    withFile(text, (path) => {
      assert.throws(() => tlsOptionsFromOptfile(path), re, text);
    });
  }
  assert.throws(
    () => tlsOptionsFromOptfile("/nonexistent/tls.conf"),
    /cannot read the TLS option file \/nonexistent\/tls\.conf/,
  );
});

test("parseTerm reads atoms, quoted atoms, strings, binaries, integers", () => {
  assert.deepEqual(
    parseTerm(`{a, 'B c', "s\\n", <<"b">>, -12, []}.`, "x"),
    {
      tuple: [
        { atom: "a" },
        { atom: "B c" },
        "s\n",
        "b",
        -12,
        [],
      ],
    },
  );
});
