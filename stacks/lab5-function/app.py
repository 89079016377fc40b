"""Lab 5's function: echoes the event it was given, with a timestamp."""

import datetime
import json

from greet import greeting


def handler(event, context):
    body = {
        "message": greeting(event),
        "received": event,
        "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    return {"statusCode": 200, "body": json.dumps(body)}
