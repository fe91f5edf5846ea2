# netwatch: small, non-root, with CAP_NET_RAW as its only capability (raw ICMP sockets).
# Base images are pinned to an exact release; pin the digest too in your registry mirror
# (`python:3.11.10-slim-bookworm@sha256:...`) for byte-identical rebuilds.
FROM python:3.11.10-slim-bookworm AS build
# gcc builds the C loops (netwatch/net/_echo.c, netwatch/net/snmp/_ber.c) into the wheel; only this stage has it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY netwatch ./netwatch
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && python -c "import sys, zipfile, glob; names = zipfile.ZipFile(glob.glob('/wheels/netwatch-*.whl')[0]).namelist(); sys.exit(not all(any(n.startswith(m) for n in names) for m in ('netwatch/net/_echo', 'netwatch/net/snmp/_ber')))"

FROM python:3.11.10-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TZ=Asia/Ho_Chi_Minh \
    NETWATCH_LANG=vi
COPY --from=build /wheels /wheels
# A copy of the interpreter carries the file capability, so plain `python` in the image stays
# unprivileged. NET_RAW must also be in the container's bounding set (compose: cap_add NET_RAW),
# and no-new-privileges must stay off: it makes the kernel ignore file capabilities.
RUN pip install --no-cache-dir --no-index /wheels/*.whl \
    && rm -rf /wheels \
    && apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && cp /usr/local/bin/python3.11 /usr/local/bin/netwatch-python \
    && setcap cap_net_raw=ep /usr/local/bin/netwatch-python \
    && apt-get purge -y --auto-remove libcap2-bin \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 netwatch \
    && useradd --system --uid 10001 --gid netwatch --home-dir /var/lib/netwatch --shell /usr/sbin/nologin netwatch \
    && install -d -o netwatch -g netwatch -m 0750 /var/lib/netwatch \
    && install -d -m 0755 /etc/netwatch
WORKDIR /var/lib/netwatch
USER netwatch:netwatch
EXPOSE 9800
# The venue file sets the listen address; 9800 is netwatch's default.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9800/healthz', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/netwatch-python", "-m", "netwatch"]
CMD ["run", "-c", "/etc/netwatch/venue.yaml"]
