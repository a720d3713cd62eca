"""A schedule declared in code: every worker that imports this module keeps it registered.

rota worker --import schedule     # from this folder: registers "tidy" (every 10 minutes)
python schedule.py                # shows the schedule, runs it once now, prints the result
"""

import rota

app = rota.Rota()  # the server from ROTA_SERVER, the token from ROTA_TOKEN


@app.periodic(interval=600, name="tidy")
@app.task(name="examples.tidy")
def tidy() -> str:
    rota.log("tidying up")
    return "tidied"


if __name__ == "__main__":
    schedule = app.client.get_schedule("tidy")
    print(f"{schedule['name']}: {schedule['task']} every {schedule['interval_s']:g} s")
    print(f"next run at {schedule['next_fire_at']}")
    job = app.client.trigger_schedule("tidy")  # one run now, besides the timetable
    print(f"ran now: {app.client.wait(job['id'], timeout_s=60)['result']}")
    app.close()
