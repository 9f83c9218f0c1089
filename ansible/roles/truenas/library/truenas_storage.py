#!/usr/bin/python
"""Ansible module: datasets and periodic snapshot tasks on TrueNAS through its JSON-RPC API."""

DOCUMENTATION = r"""
---
module: truenas_storage
short_description: Datasets and periodic snapshot tasks on TrueNAS, through the middleware API
description:
  - Makes the listed datasets and periodic snapshot tasks exist with the listed properties, over
    one JSON-RPC 2.0 WebSocket connection to C(/api/current) with one API key login.
  - Queries first and only creates or updates what differs; creates and updates go out as
    C(core.bulk) jobs. Never deletes a dataset or a snapshot task.
  - Needs nothing beyond the Python standard library, so it can run on the controller or on the
    NAS itself.
options:
  api_url:
    description: WebSocket URL of the API, for example C(wss://nas.example/api/current).
    type: str
    required: true
  api_key:
    description: API key of O(api_username).
    type: str
    required: true
  api_username:
    description: The user the API key belongs to (C(auth.login_ex) checks it).
    type: str
    default: root
  validate_certs:
    description: Verify the server's TLS certificate for C(wss://) URLs.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for any one answer.
    type: float
    default: 60
  datasets:
    description:
      - Datasets to ensure, parents before children (a parent must be listed or exist already).
      - Keys name, share_type, compression, recordsize, acltype, atime, quota (bytes or C(10G)),
        user_properties (a dict, keys with a colon), comments, create_ancestors, uid, gid, mode
        (octal string such as C("0750")); only the keys given are enforced.
      - share_type and create_ancestors only matter when the dataset is created (TrueNAS
        cannot change a dataset's preset afterwards).
    type: list
    elements: dict
    default: []
  snapshot_tasks:
    description:
      - Periodic snapshot tasks to ensure, matched on dataset and naming_schema.
      - Keys dataset, recursive, exclude, lifetime_value, lifetime_unit, naming_schema, schedule
        (minute, hour, dom, month, dow, begin, end), enabled, allow_empty.
    type: list
    elements: dict
    default: []
author: Hearth
"""

EXAMPLES = r"""
- name: Ensure the PostgreSQL dataset and its snapshots
  truenas_storage:
    api_url: wss://nas.example/api/current
    api_key: "{{ vault_truenas_api_key }}"
    datasets:
      - name: tank/hearth
      - {name: tank/hearth/postgres, recordsize: 16K, compression: LZ4, uid: 999, gid: 999}
    snapshot_tasks:
      - dataset: tank/hearth
        recursive: true
        lifetime_value: 2
        lifetime_unit: WEEK
        naming_schema: auto-%Y-%m-%d_%H-%M
        schedule: {minute: "0", hour: "*"}
  no_log: true
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done, in order.
  type: list
  elements: str
  returned: always
datasets:
  description: The listed datasets as the API reports them afterwards (name, properties, owner).
  type: list
  elements: dict
  returned: always
snapshot_tasks:
  description: The listed snapshot tasks as the API reports them afterwards.
  type: list
  elements: dict
  returned: always
api_calls:
  description: How many JSON-RPC calls the run made on its single connection.
  type: int
  returned: always
"""

import re  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402
from ansible.module_utils.truenas_rpc import TrueNASClient, TrueNASError  # noqa: E402

DATASET_KEYS = {
    "name",
    "share_type",
    "compression",
    "recordsize",
    "acltype",
    "atime",
    "quota",
    "user_properties",
    "comments",
    "create_ancestors",
    "uid",
    "gid",
    "mode",
}
TASK_KEYS = {
    "dataset",
    "recursive",
    "exclude",
    "lifetime_value",
    "lifetime_unit",
    "naming_schema",
    "schedule",
    "enabled",
    "allow_empty",
}
TASK_DEFAULTS = {
    "recursive": False,
    "exclude": [],
    "lifetime_value": 2,
    "lifetime_unit": "WEEK",
    "enabled": True,
    "naming_schema": "auto-%Y-%m-%d_%H-%M",
    "allow_empty": True,
}
SCHEDULE_DEFAULTS = {
    "minute": "00",
    "hour": "*",
    "dom": "*",
    "month": "*",
    "dow": "*",
    "begin": "00:00",
    "end": "23:59",
}
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def to_bytes(value):
    if value in (None, "", 0, "0", "none", "NONE"):
        return None
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"\s*(\d+)\s*([KMGTP]?)I?B?\s*", str(value).upper())
    if not m:
        raise ValueError(f"quota {value!r} is not a size such as 10G or a number of bytes")
    return int(m.group(1)) * UNITS[m.group(2)]


def on_off(value):
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    return str(value).upper()


def desired_properties(ds):
    """The API's create/update arguments for the keys the user gave."""
    props = {}
    for key in ("compression", "recordsize", "acltype"):
        if ds.get(key) is not None:
            props[key] = str(ds[key]).upper()
    if ds.get("atime") is not None:
        props["atime"] = on_off(ds["atime"])
    if "quota" in ds:
        props["quota"] = to_bytes(ds["quota"])
    if ds.get("comments") is not None:
        props["comments"] = ds["comments"]
    return props


def property_diff(entry, props):
    """Properties whose current value differs from the wanted one."""
    diff = {}
    for key, want in props.items():
        current = entry.get(key) or {}
        if key == "quota":
            have = current.get("parsed") or None
        elif key == "comments":
            have = current.get("value") or ""
        else:
            have = current.get("value")
        if have != want:
            diff[key] = want
    return diff


def user_property_updates(entry, wanted):
    have = {k: v.get("value") for k, v in (entry.get("user_properties") or {}).items()}
    return [{"key": k, "value": str(v)} for k, v in sorted(wanted.items()) if have.get(k) != str(v)]


def summary(entry, stat=None):
    out = {"name": entry["name"], "mountpoint": entry.get("mountpoint")}
    for key in ("compression", "recordsize", "acltype", "atime"):
        out[key] = (entry.get(key) or {}).get("value")
    out["quota"] = (entry.get("quota") or {}).get("parsed")
    out["user_properties"] = {
        k: v.get("value") for k, v in (entry.get("user_properties") or {}).items()
    }
    if stat:
        out.update(uid=stat["uid"], gid=stat["gid"], mode="%04o" % (stat["mode"] & 0o7777))
    return out


def task_key(task):
    return (task["dataset"], task.get("naming_schema", TASK_DEFAULTS["naming_schema"]))


def task_wanted(task):
    want = {k: v for k, v in task.items() if k != "schedule"}
    if "schedule" in task:
        want["schedule"] = {k: str(v) for k, v in (task["schedule"] or {}).items()}
    return want


def task_diff(current, wanted):
    diff = {}
    for key, want in wanted.items():
        if key == "schedule":
            have = {k: str(v) for k, v in (current.get("schedule") or {}).items()}
            merged = dict(have)
            merged.update(want)
            if merged != have:
                diff["schedule"] = want
        elif key in ("lifetime_unit",):
            if str(current.get(key)).upper() != str(want).upper():
                diff[key] = str(want).upper()
        elif current.get(key) != want:
            diff[key] = want
    return diff


def validate(module):
    for ds in module.params["datasets"]:
        if not isinstance(ds, dict) or not ds.get("name"):
            module.fail_json(msg=f"every item of datasets needs a name: {ds!r}")
        unknown = set(ds) - DATASET_KEYS
        if unknown:
            module.fail_json(msg=f"dataset {ds['name']}: unknown keys {sorted(unknown)}")
        if "/" not in ds["name"]:
            module.fail_json(
                msg=f"dataset {ds['name']}: give pool/dataset; the pool root is not managed"
            )
        if ds.get("mode") is not None and not re.fullmatch(r"0?[0-7]{3}", str(ds["mode"])):
            module.fail_json(
                msg=f'dataset {ds["name"]}: mode must be an octal string such as "0750"'
            )
        try:
            desired_properties(ds)
        except ValueError as exc:
            module.fail_json(msg="dataset {}: {}".format(ds["name"], exc))
    for task in module.params["snapshot_tasks"]:
        if not isinstance(task, dict) or not task.get("dataset"):
            module.fail_json(msg=f"every item of snapshot_tasks needs a dataset: {task!r}")
        unknown = set(task) - TASK_KEYS
        if unknown:
            module.fail_json(
                msg=f"snapshot task for {task['dataset']}: unknown keys {sorted(unknown)}"
            )


def ensure_datasets(module, client, actions, before, after):
    wanted = sorted(module.params["datasets"], key=lambda d: d["name"].count("/"))
    names = [d["name"] for d in wanted]
    entries = {e["name"]: e for e in client.call("pool.dataset.query", [["id", "in", names]])}
    creates, updates = [], []
    for ds in wanted:
        props = desired_properties(ds)
        entry = entries.get(ds["name"])
        if entry is None:
            payload = dict(props, name=ds["name"], type="FILESYSTEM")
            if props.get("quota") is None:
                payload.pop("quota", None)
            if ds.get("share_type"):
                payload["share_type"] = str(ds["share_type"]).upper()
            if ds.get("create_ancestors"):
                payload["create_ancestors"] = True
            if ds.get("user_properties"):
                payload["user_properties"] = [
                    {"key": k, "value": str(v)} for k, v in sorted(ds["user_properties"].items())
                ]
            creates.append([payload])
            actions.append("create dataset {}".format(ds["name"]))
            before["datasets"][ds["name"]] = None
            after["datasets"][ds["name"]] = payload
            continue
        diff = property_diff(entry, props)
        up = user_property_updates(entry, ds.get("user_properties") or {})
        if up:
            diff["user_properties_update"] = up
        if diff:
            updates.append([ds["name"], diff])
            actions.append("update dataset {}: {}".format(ds["name"], ", ".join(sorted(diff))))
            before["datasets"][ds["name"]] = summary(entry)
            after["datasets"][ds["name"]] = diff
    if not module.check_mode:
        client.bulk("pool.dataset.create", creates)
        client.bulk("pool.dataset.update", updates)
    return wanted


def ensure_ownership(module, client, wanted, actions, before, after):
    owned = [d for d in wanted if any(d.get(k) is not None for k in ("uid", "gid", "mode"))]
    existing = {
        e["name"]
        for e in client.call("pool.dataset.query", [["id", "in", [d["name"] for d in owned]]])
    }
    stats = {}
    if existing:
        paths = [["/mnt/" + d["name"]] for d in owned if d["name"] in existing]
        for d, st in zip(
            [d for d in owned if d["name"] in existing],
            client.bulk("filesystem.stat", paths),
            strict=True,
        ):
            stats[d["name"]] = st
    perms = []
    for ds in owned:
        st = stats.get(ds["name"])
        change = {}
        for key in ("uid", "gid"):
            if ds.get(key) is not None and (st is None or st[key] != int(ds[key])):
                change[key] = int(ds[key])
        if ds.get("mode") is not None:
            want_mode = int(str(ds["mode"]), 8)
            if st is None or (st["mode"] & 0o7777) != want_mode:
                change["mode"] = f"{want_mode:03o}"
                # A mode on a dataset that carries an ACL needs the ACL stripped first.
                change["options"] = {"stripacl": True}
        if change:
            perms.append([dict(change, path="/mnt/" + ds["name"])])
            actions.append(
                "set owner/mode of /mnt/{}: {}".format(
                    ds["name"], ", ".join(sorted(k for k in change if k != "options"))
                )
            )
            if st is not None:
                before.setdefault("owners", {})[ds["name"]] = {
                    "uid": st["uid"],
                    "gid": st["gid"],
                    "mode": "%04o" % (st["mode"] & 0o7777),
                }
            after.setdefault("owners", {})[ds["name"]] = {
                k: v for k, v in change.items() if k != "options"
            }
    if not module.check_mode:
        client.bulk("filesystem.setperm", perms)


def ensure_snapshot_tasks(module, client, actions, before, after):
    current = {}
    for task in client.call("pool.snapshottask.query"):
        current.setdefault(task_key(task), task)
    creates, updates = [], []
    for task in module.params["snapshot_tasks"]:
        key = task_key(task)
        wanted = task_wanted(task)
        have = current.get(key)
        label = "{} ({})".format(*key)
        if have is None:
            payload = dict(wanted)
            if "lifetime_unit" in payload:
                payload["lifetime_unit"] = str(payload["lifetime_unit"]).upper()
            creates.append([payload])
            actions.append(f"create snapshot task {label}")
            after["snapshot_tasks"][label] = payload
            continue
        diff = task_diff(have, wanted)
        if diff:
            updates.append([have["id"], diff])
            actions.append("update snapshot task {}: {}".format(label, ", ".join(sorted(diff))))
            before["snapshot_tasks"][label] = {k: have.get(k) for k in diff}
            after["snapshot_tasks"][label] = diff
    if not module.check_mode:
        client.bulk("pool.snapshottask.create", creates)
        client.bulk("pool.snapshottask.update", updates)


def report(client, module):
    names = [d["name"] for d in module.params["datasets"]]
    entries = client.call("pool.dataset.query", [["id", "in", names]]) if names else []
    owned = [
        e
        for e in entries
        if any(
            d["name"] == e["name"] and any(d.get(k) is not None for k in ("uid", "gid", "mode"))
            for d in module.params["datasets"]
        )
    ]
    found = client.bulk("filesystem.stat", [[e["mountpoint"]] for e in owned])
    stats = dict(zip([e["name"] for e in owned], found, strict=True))
    keys = {task_key(t) for t in module.params["snapshot_tasks"]}
    tasks = [t for t in client.call("pool.snapshottask.query") if task_key(t) in keys]
    return [summary(e, stats.get(e["name"])) for e in entries], tasks


def main():
    module = AnsibleModule(
        argument_spec={
            "api_url": {"type": "str", "required": True},
            "api_key": {"type": "str", "required": True, "no_log": True},
            "api_username": {"type": "str", "default": "root"},
            "validate_certs": {"type": "bool", "default": True},
            "timeout": {"type": "float", "default": 60.0},
            "datasets": {"type": "list", "elements": "dict", "default": []},
            "snapshot_tasks": {"type": "list", "elements": "dict", "default": []},
        },
        supports_check_mode=True,
    )
    validate(module)
    actions = []
    before = {"datasets": {}, "snapshot_tasks": {}}
    after = {"datasets": {}, "snapshot_tasks": {}}
    client = None
    try:
        client = TrueNASClient(
            module.params["api_url"],
            timeout=module.params["timeout"],
            verify_ssl=module.params["validate_certs"],
        )
        client.login_api_key(module.params["api_key"], module.params["api_username"])
        wanted = ensure_datasets(module, client, actions, before, after)
        ensure_ownership(module, client, wanted, actions, before, after)
        ensure_snapshot_tasks(module, client, actions, before, after)
        datasets, tasks = report(client, module)
        calls = client.calls
    except TrueNASError as exc:
        module.fail_json(
            msg=f"TrueNAS API: {exc}",
            actions=actions,
            error_type=type(exc).__name__,
            errors=exc.extra,
        )
    finally:
        if client is not None:
            client.close()
    module.exit_json(
        changed=bool(actions),
        actions=actions,
        datasets=datasets,
        snapshot_tasks=tasks,
        api_calls=calls,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
