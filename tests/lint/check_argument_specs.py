#!/usr/bin/env python3
"""Check every role's meta/argument_specs.yml against its defaults/main.yml.

For every role under roles/ and every entry point in its argument specs:
  * every variable in defaults/main.yml is an option, with a default equal to the defaults value;
  * every option that is not in defaults/main.yml is `required: true` and has no default
    (entry-point specific inputs such as etcd_remove_member_name);
  * every option has a description and a type.
The `main` entry point must exist. Exit status 1 and one line per problem otherwise.
"""
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def check_role(role_dir):
    name = os.path.basename(role_dir)
    problems = []
    defaults_path = os.path.join(role_dir, "defaults", "main.yml")
    spec_path = os.path.join(role_dir, "meta", "argument_specs.yml")
    defaults = load(defaults_path) if os.path.exists(defaults_path) else {}
    if not os.path.exists(spec_path):
        return ["%s: meta/argument_specs.yml is missing" % name]
    specs = (load(spec_path).get("argument_specs") or {})
    if "main" not in specs:
        problems.append("%s: argument_specs has no 'main' entry point" % name)
    for entry, spec in specs.items():
        options = (spec or {}).get("options") or {}
        where = "%s[%s]" % (name, entry)
        for var, value in defaults.items():
            if var not in options:
                problems.append("%s: default %s is not an option" % (where, var))
                continue
            opt = options[var] or {}
            if "default" not in opt:
                problems.append("%s: option %s has no default (defaults/main.yml: %r)" % (where, var, value))
            elif opt["default"] != value or type(opt["default"]) is not type(value):
                problems.append("%s: option %s default %r != defaults/main.yml %r" % (where, var, opt["default"], value))
        for var, opt in options.items():
            opt = opt or {}
            if not opt.get("description"):
                problems.append("%s: option %s has no description" % (where, var))
            if not opt.get("type"):
                problems.append("%s: option %s has no type" % (where, var))
            if var not in defaults and (not opt.get("required") or "default" in opt):
                problems.append("%s: option %s is not in defaults/main.yml and not required-without-default"
                                % (where, var))
    return problems


def main():
    roles_dir = os.path.join(ROOT, "roles")
    roles = sorted(d for d in os.listdir(roles_dir) if os.path.isdir(os.path.join(roles_dir, d)))
    problems = []
    for role in roles:
        problems += check_role(os.path.join(roles_dir, role))
    for p in problems:
        print(p)
    print("check_argument_specs: %d role(s), %d problem(s)" % (len(roles), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
