//! The Redis blueprint for real: 100k keys of five types (strings, some
//! binary, hashes, lists, sets, sorted sets), half with an expiry, on the
//! server `scripts/db-servers.sh` runs; backed up batch by batch through a
//! test-cluster pod's exec, the server emptied, the pod re-created by the
//! restore and every key put back with its expiry; then again with
//! `--data-only` into the live pod. A digest over every
//! key's type, value and absolute expiry must match.

mod blueprint_env;
mod kube_env;

use blueprint_env::{app_pod, cluster, delete_pod, dump, host, kube, namespace, secret, server_env};
use kube_env::Env;
use serde_json::json;

const NS: &str = "cache";
const KEYS: usize = 100_000;

/// Every key (sorted) with its type, value (members sorted where order is
/// not kept) and absolute expiry in ms. Values, not DUMP payloads: a
/// restored set may take another encoding.
const DIGEST: &str = r#"
local keys, cursor = {}, '0'
repeat
  local r = redis.call('SCAN', cursor, 'COUNT', 5000)
  cursor = r[1]
  for _, k in ipairs(r[2]) do keys[#keys + 1] = k end
until cursor == '0'
table.sort(keys)
local function sorted(t) table.sort(t) return table.concat(t, ',') end
local parts, expiring = {}, 0
for _, k in ipairs(keys) do
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = sorted(redis.call('HGETALL', k))
  elseif t == 'list' then v = table.concat(redis.call('LRANGE', k, 0, -1), ',')
  elseif t == 'set' then v = sorted(redis.call('SMEMBERS', k))
  elseif t == 'zset' then v = table.concat(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), ',')
  else v = '?' end
  local at = redis.call('PEXPIRETIME', k)
  if at > 0 then expiring = expiring + 1 end
  parts[#parts + 1] = k .. ' ' .. t .. ' ' .. redis.sha1hex(v) .. ' ' .. string.format('%.0f', at)
end
return #keys .. ' keys, ' .. expiring .. ' expiring, ' .. redis.sha1hex(table.concat(parts, '\n'))
"#;

fn bulk(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
    out.extend_from_slice(b"\r\n");
}

fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        bulk(out, a);
    }
}

/// The dataset as Redis protocol for `redis-cli --pipe`.
fn dataset() -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..KEYS {
        let n = i.to_string();
        let key = format!("k:{}:{i}", ["s", "h", "l", "z", "t"][i % 5]);
        let k = key.as_bytes();
        match i % 5 {
            0 => {
                let mut value = format!("value {i} – ünïcødé ").into_bytes();
                value.extend_from_slice(&[0, 255, 13, 10, (i % 251) as u8]);
                command(&mut out, &[b"SET", k, &value]);
            }
            1 => command(&mut out, &[b"HSET", k, b"name", format!("n{i}").as_bytes(), b"count", n.as_bytes()]),
            2 => command(&mut out, &[b"RPUSH", k, b"a", n.as_bytes(), b"c"]),
            3 => command(&mut out, &[b"ZADD", k, b"1.5", b"x", n.as_bytes(), b"y"]),
            _ => command(&mut out, &[b"SADD", k, b"m1", n.as_bytes()]),
        }
        if i % 2 == 0 {
            command(&mut out, &[b"EXPIRE", k, (3600 + i % 7200).to_string().as_bytes()]);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_key_comes_back_with_its_expiry() -> anyhow::Result<()> {
    let Some(v) = server_env(&["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD"]) else { return Ok(()) };
    let (rhost, rport, password) = (v[0].clone(), v[1].clone(), v[2].clone());
    let auth = [("REDISCLI_AUTH", password.as_str())];
    let cli = |args: &[&str], stdin: Option<&[u8]>| {
        let mut argv = vec!["redis-cli", "-h", rhost.as_str(), "-p", rport.as_str()];
        argv.extend_from_slice(args);
        host(&argv, &auth, stdin)
    };
    cli(&["FLUSHALL"], None)?;
    cli(&["--pipe"], Some(&dataset()))?;
    let before = cli(&["EVAL", DIGEST, "0"], None)?;
    assert!(before.starts_with(&format!("{KEYS} keys, {} expiring", KEYS / 2)), "{before}");

    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;
    let cluster = cluster().await?;
    let k = kube(&cluster).await?;
    namespace(&k, NS).await?;
    secret(&k, NS, "redis-auth", &[("password", &password)]).await?;
    let pod_env = json!([
        {"name": "REDIS_HOST", "value": rhost}, {"name": "REDIS_PORT_NUMBER", "value": rport},
        {"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}
    ]);
    app_pod(&k, NS, "redis-0", "redis", "redis:7", pod_env).await?;

    let b =
        env.json(&cluster, 0, &["backup", "create", "r-1", "--include-namespaces", NS, "--volumes", "none"]).await?;
    let keys = dump(&b, "keys")?;
    assert_eq!(keys["state"], "Completed", "{keys}");
    assert!(!b.to_string().contains(&password));

    cli(&["FLUSHALL"], None)?;
    delete_pod(&k, NS, "redis-0").await?;
    let r =
        env.json(&cluster, 0, &["restore", "create", "r1", "--from-backup", "r-1", "--dump-timeout", "60s"]).await?;
    let restored = &r["dumps"][0];
    assert_eq!(restored["state"], "Restored", "{}", r["dumps"]);
    assert_eq!(restored["bytes"], keys["bytes"]);
    let after = cli(&["EVAL", DIGEST, "0"], None)?;
    assert_eq!(after, before, "every key, its type, value and absolute expiry");

    // --data-only: into the live application (as GitOps redeployed it), nothing re-created.
    cli(&["FLUSHALL"], None)?;
    let args = ["restore", "create", "r2", "--from-backup", "r-1", "--data-only", "--include-namespaces", NS];
    let r = env.json(&cluster, 0, &args).await?;
    assert_eq!(r["dumps"][0]["state"], "Restored", "{}", r["dumps"]);
    assert_eq!(r["dumps"][0]["pod"], "cache/redis-0");
    assert_eq!(cli(&["EVAL", DIGEST, "0"], None)?, before);
    cli(&["FLUSHALL"], None)?;
    Ok(())
}
