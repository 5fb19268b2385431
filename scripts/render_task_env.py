"""Renders the container environment that the terraform example's ECS task runs with, and runs
`s3-replicator check-config` on exactly that environment.

    render_task_env.py EXAMPLE_DIR MODULE_DIR BINARY

The environment is read from the module's `locals.container_environment` (ecs.tf) and the
example's module call, parsed with python-hcl2. Values that only exist after `terraform apply`
(the queue URL, the topic ARNs) are rendered the way AWS forms them, from the example's region
and a placeholder account. Any reference this script does not know fails the check, so that a
change to the task's environment cannot slip past it: teach it the new reference instead.

Also checks that the example's TOML agrees with the example's terraform: every bucket the
configuration names is a bucket the terraform grants, and every role ARN is the DR writer role;
the modules' feature variables, which terraform cannot derive from the TOML, match what the
configuration uses (replicate_deletes and `deletes = "replicate"`, restore_archived_sources and
`archived = "restore"`, copy_object_lock and `object_lock = "copy"`), in both directions: a
feature the configuration uses needs its events and permissions, and one it does not use must
not be granted; every rule's lag_alert_secs equals the replicator module's
lag_objective_seconds (the daemon's replication_late alert and the lag alarm share the
threshold).
"""

import ast
import json
import os
import re
import subprocess
import sys
import tomllib

import hcl2

PLACEHOLDER_ACCOUNT = "111111111111"


def load(path):
    with open(path, encoding="utf-8") as f:
        return hcl2.load(f)


def fail(message):
    print(f"render_task_env: {message}", file=sys.stderr)
    sys.exit(1)


def blocks(doc, kind):
    """{name: body} for `resource`-less blocks such as module and variable."""
    out = {}
    for entry in doc.get(kind, []):
        for name, body in entry.items():
            out[name] = body
    return out


def single(value):
    """python-hcl2 wraps attribute values of blocks in one-element lists."""
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def variable_defaults(directory):
    defaults = {}
    path = os.path.join(directory, "variables.tf")
    for name, body in blocks(load(path), "variable").items():
        if "default" in body:
            defaults[name] = single(body["default"])
    return defaults


def resolve_vars(value, variables):
    """Replaces `${var.NAME}` in a literal string with the variable's default."""
    if not isinstance(value, str):
        return value
    whole = re.fullmatch(r"\$\{var\.(\w+)\}", value)
    if whole:
        return variables[whole.group(1)]
    return re.sub(r"\$\{var\.(\w+)\}", lambda m: str(variables[m.group(1)]), value)


def module_inputs(call, module_dir, example_vars):
    """The module's variables as the example's call sets them, defaults for the rest."""
    inputs = variable_defaults(module_dir)
    for key, value in call.items():
        if not key.startswith("__"):
            inputs[key] = resolve_vars(single(value), example_vars)
    return inputs


def module_calls(example, example_dir, module):
    """[(call name, module directory, call body)] of every call of modules/MODULE."""
    out = []
    for name, body in blocks(example, "module").items():
        source = single(body["source"]).rstrip("/")
        if source.endswith(f"modules/{module}"):
            out.append((name, os.path.normpath(os.path.join(example_dir, source)), body))
    return out


def main():
    example_dir, module_dir, binary = sys.argv[1:4]
    example = {}
    for name in sorted(os.listdir(example_dir)):
        if name.endswith(".tf"):
            for kind, entries in load(os.path.join(example_dir, name)).items():
                example.setdefault(kind, []).extend(entries)
    example_vars = variable_defaults(example_dir)

    calls = module_calls(example, example_dir, "replicator")
    if len(calls) != 1:
        fail(f"expected one call of modules/replicator in {example_dir}, found {len(calls)}")
    call_name, _, call = calls[0]
    inputs = module_inputs(call, module_dir, example_vars)
    target_accounts = [(name, module_inputs(body, directory, example_vars))
                       for name, directory, body in module_calls(example, example_dir, "target-account")]

    # config_toml: file("${path.module}/NAME") is the one form the example may use.
    m = re.fullmatch(r'\$\{file\("\$\{path\.module\}/([^"]+)"\)\}', inputs["config_toml"])
    if not m:
        fail(f"config_toml must be file(\"${{path.module}}/NAME\"), found {inputs['config_toml']!r}")
    toml_path = os.path.join(example_dir, m.group(1))
    with open(toml_path, encoding="utf-8") as f:
        config_toml = f.read()

    providers = [single(p) for p in example.get("provider", [])]
    default_provider = [p["aws"] for p in providers if "aws" in p and "alias" not in p["aws"]]
    if len(default_provider) != 1:
        fail("expected one aws provider without alias in the example")
    region = single(default_provider[0]["region"])

    name = inputs["name"]
    fifo = bool(inputs.get("completion_topic_fifo", False))
    completion_topic = f"{name}-completed.fifo" if fifo else f"{name}-completed"
    known = {
        "var.config_toml": config_toml,
        "aws_sqs_queue.events.url": f"https://sqs.{region}.amazonaws.com/{PLACEHOLDER_ACCOUNT}/{name}-events",
        "aws_sns_topic.completion.arn": f"arn:aws:sns:{region}:{PLACEHOLDER_ACCOUNT}:{completion_topic}",
        "aws_sns_topic.alerts.arn": f"arn:aws:sns:{region}:{PLACEHOLDER_ACCOUNT}:{name}-alerts",
        "var.metrics_port": str(inputs["metrics_port"]),
        "local.region": region,
    }

    ecs = load(os.path.join(module_dir, "ecs.tf"))
    locals_ = {}
    for entry in ecs.get("locals", []):
        locals_.update(entry)
    expr = single(locals_["container_environment"])
    m = re.fullmatch(r"\$\{merge\((\{.*\}),\s*var\.environment\)\}", expr, re.S)
    if not m:
        fail(f"container_environment must be merge({{…}}, var.environment), found {expr[:120]!r}")
    base = ast.literal_eval(m.group(1))

    def render(value):
        def one(ref):
            if ref.group(1) not in known:
                fail(f"unknown reference ${{{ref.group(1)}}} in container_environment: teach {__file__} its value")
            return known[ref.group(1)]
        return re.sub(r"\$\{([^}]+)\}", one, str(value))

    env = {key: render(value) for key, value in base.items()}
    extra = inputs.get("environment") or {}
    env.update({k: str(v) for k, v in extra.items()})

    check_consistency(config_toml, toml_path, example, example_vars)
    check_features(config_toml, toml_path, (call_name, inputs), target_accounts)

    out = os.path.join(os.path.dirname(binary), "task-environment.json")
    with open(out, "w", encoding="utf-8") as f:
        json.dump(env, f, indent=2, sort_keys=True)

    # Exactly this environment, nothing inherited: no stray S3R_ variable or AWS setting helps.
    result = subprocess.run([binary, "check-config"], env={"PATH": "/usr/bin:/bin", **env},
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"check-config refused the task's configuration ({out}):\n{result.stderr}")
    for expected in (known["aws_sqs_queue.events.url"], known["aws_sns_topic.completion.arn"]):
        if expected not in result.stdout:
            fail(f"check-config did not resolve {expected}:\n{result.stdout}")
    print(f"render_task_env: check-config accepts the task environment of {example_dir} ({out})")


def check_consistency(config_toml, toml_path, example, example_vars):
    config = tomllib.loads(config_toml)
    text = json.dumps(example)
    for target in config.get("targets", []):
        if target["bucket"] not in example_vars.values():
            fail(f"{toml_path}: target bucket {target['bucket']!r} is none of the example's buckets")
        role = target.get("role_arn")
        if role:
            account, role_name = re.fullmatch(r"arn:aws:iam::(\d{12}):role/(.+)", role).groups()
            if account != example_vars.get("dr_account_id") or f'"{role_name}"' not in text:
                fail(f"{toml_path}: role_arn {role!r} is not the DR writer role the example creates")
            if target.get("external_id") != example_vars.get("dr_external_id"):
                fail(f"{toml_path}: external_id of {target['name']!r} differs from var.dr_external_id")
    for rule in config.get("rules", []):
        if rule["source_bucket"] != example_vars.get("source_bucket"):
            fail(f"{toml_path}: rule {rule['name']!r} reads {rule['source_bucket']!r}, not var.source_bucket")


def literal_bool(inputs, key, module):
    value = inputs.get(key)
    if not isinstance(value, bool):
        fail(f'module "{module}": {key} must be a literal true or false for this check, found {value!r}')
    return value


def agree(toml_path, used_by, enabled, module, variable, setting, missing, needless):
    """`used_by`: the rules or targets of the configuration that set `setting`; `enabled`: the
    module's variable. `missing` and `needless` say what goes wrong in either disagreement."""
    if used_by and not enabled:
        fail(f'{toml_path}: {", ".join(used_by)} {setting}, but module "{module}" has '
             f'{variable} = false: {missing}. Set {variable} = true in the module call.')
    if enabled and not used_by:
        fail(f'module "{module}" sets {variable} = true, but nothing in {toml_path} {setting}: '
             f'{needless}. Remove it (the default is false), or use the feature.')


DURATION_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}


def seconds(value, where):
    """lag_alert_secs as the daemon reads it: an integer of seconds, or a duration such as "5m"
    or "1h 30m" (the whole-second units of the daemon's duration syntax)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        parts = re.findall(r"(\d+)\s*([a-z]+)", value)
        if parts and re.fullmatch(r"(\s*\d+\s*[a-z]+)+\s*", value) and all(u in DURATION_UNITS for _, u in parts):
            return sum(int(n) * DURATION_UNITS[u] for n, u in parts)
    fail(f"{where}: lag_alert_secs = {value!r}: write it as an integer of seconds for this check")


def check_features(config_toml, toml_path, replicator_call, target_accounts):
    """The modules' feature variables against what the configuration uses (see the docstring).
    `replicator_call` and each of `target_accounts`: (module call name, its inputs)."""
    module, replicator = replicator_call
    config = tomllib.loads(config_toml)
    rules = config.get("rules", [])
    targets = config.get("targets", [])
    deleting = [r for r in rules if r.get("deletes", "ignore") == "replicate"]
    restoring = [r for r in rules if r.get("archived", "alert") == "restore"]
    locking = [t for t in targets if t.get("object_lock", "off") == "copy"]

    def names(items, kind):
        return [f"{kind} {item['name']!r}" for item in items]

    agree(toml_path, names(deleting, "rule"), literal_bool(replicator, "replicate_deletes", module),
          module, "replicate_deletes", 'sets deletes = "replicate"',
          "the source buckets' deletions would not reach the queue and the task role could not "
          "delete replicas",
          "the queue would receive deletions nobody replicates and the task role could delete replicas")
    agree(toml_path, names(restoring, "rule"), literal_bool(replicator, "restore_archived_sources", module),
          module, "restore_archived_sources", 'sets archived = "restore"',
          "the task role could not call RestoreObject and completed restores would not reach the queue",
          "the task role could restore archived objects nobody asked for")
    agree(toml_path, names(locking, "target"), literal_bool(replicator, "copy_object_lock", module),
          module, "copy_object_lock", 'sets object_lock = "copy"',
          "the task role could not read the sources' retention and legal hold (nor set them on "
          "same-account targets)",
          "the task role could read and set retention and legal holds for nothing")

    # Each target account's writer role: the features of the targets written with that role.
    for account, inputs in target_accounts:
        role_suffix = f":role/{inputs['role_name']}"
        written = {t["name"] for t in targets if (t.get("role_arn") or "").endswith(role_suffix)}
        agree(toml_path, [f"rule {r['name']!r}" for r in deleting if written & set(r.get("targets", []))],
              literal_bool(inputs, "replicate_deletes", account),
              account, "replicate_deletes", f'sets deletes = "replicate" for a target written by role {inputs["role_name"]}',
              "its writer role could not delete replicas",
              "its writer role could delete replicas for nothing")
        agree(toml_path, [f"target {t['name']!r}" for t in locking if t["name"] in written],
              literal_bool(inputs, "copy_object_lock", account),
              account, "copy_object_lock", f'sets object_lock = "copy" on a target written by role {inputs["role_name"]}',
              "its writer role could not set retention and legal hold on replicas",
              "its writer role could set retention and legal holds for nothing")

    lag = replicator.get("lag_objective_seconds")
    if not isinstance(lag, (int, float)) or isinstance(lag, bool):
        fail(f'module "{module}": lag_objective_seconds must be a literal number for this check, found {lag!r}')
    for rule in rules:
        if "lag_alert_secs" in rule:
            where = f"{toml_path}: rule {rule['name']!r}"
            if seconds(rule["lag_alert_secs"], where) != lag:
                fail(f"{where}: lag_alert_secs = {rule['lag_alert_secs']!r} differs from lag_objective_seconds "
                     f"= {lag:g} of module \"{module}\": the daemon's replication_late alert and "
                     "the lag alarm must use the same threshold. Make them equal.")


if __name__ == "__main__":
    main()
