"""A second module, so that the zip holds more than one file."""


def greeting(event):
    name = (event or {}).get("name", "world")
    return f"Hello from the command line, {name}!"
