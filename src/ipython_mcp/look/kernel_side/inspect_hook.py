# Runs inside the user's kernel (see __init__.py): installs (or, with OPTIONS["leave"], lets go
# of) the hook through which the other modules run beside a cell without IPython's execute
# machinery. IPython 8.21+ calls its Inspector's mime_hooks for each object it inspects, as
# ipykernel answers an inspect_request; this hook answers only requests whose content carries
# OPTIONS["field"] (the code to run and its options), and returns None for every other
# inspection, the user's own included, at the cost of one dictionary lookup.
import json

PROTOCOL = 1
"""What the hook understands; a hook of another protocol is replaced."""


def _hook_for(shell, get_parent, field):
    def hook(data, info=None):  # IPython 8.22+ passes one argument, 8.21 (obj, info)
        try:
            look = get_parent("shell").get("content", {}).get(field)
        except Exception:
            return None
        if not isinstance(look, dict) or "sources" not in look:
            return None
        try:  # as run_kernel_side's user expression: fresh globals, the user's NS, each
            # source in turn until one sets RESULT
            names = {"NS": shell.user_global_ns, "OPTIONS": look.get("options") or {}}
            for source in look["sources"]:
                if "RESULT" in names:
                    break
                exec(source, names)
            return {"result": names["RESULT"]}
        except Exception as exc:
            return {"ename": type(exc).__name__, "evalue": str(exc)}

    hook.ipython_mcp_protocol = PROTOCOL
    hook.ipython_mcp_clients = set()
    return hook


def _install(options):
    import IPython  # IPython's own kernels only: others have no Inspector to hook into

    shell = IPython.get_ipython()
    inspector = getattr(shell, "inspector", None)
    kernel = getattr(shell, "kernel", None)
    if inspector is None or not hasattr(inspector, "mime_hooks"):
        return {"installed": False, "why": "IPython %s has no inspector hooks" % IPython.__version__}
    if not hasattr(kernel, "get_parent"):
        return {"installed": False, "why": "the kernel does not say which request it answers"}
    mime, field = options["mime"], options["field"]
    client = kernel.get_parent("shell").get("header", {}).get("session", "")
    # The hooks are replaced by a new dict, never changed in place: an inspection in another
    # thread may be going through them.
    hooks = dict(inspector.mime_hooks)
    hook = hooks.get(mime)
    ours = getattr(hook, "ipython_mcp_protocol", None) == PROTOCOL
    if options.get("leave"):
        if ours:
            hook.ipython_mcp_clients.discard(client)
            if not hook.ipython_mcp_clients:  # the last of our clients that used it is gone
                del hooks[mime]
                inspector.mime_hooks = hooks
        return {"installed": False, "why": "left"}
    if not ours:
        hook = hooks[mime] = _hook_for(shell, kernel.get_parent, field)
        inspector.mime_hooks = hooks
    hook.ipython_mcp_clients.add(client)
    return {"installed": True}


RESULT = json.dumps(_install(OPTIONS))  # noqa: F821 - given by the caller
