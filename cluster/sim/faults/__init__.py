"""The AIOpsLab fault library: families (``families``), problems (``problems``), mitigation oracles
(``oracles``) and bringing a cluster up with a problem's fault (``setup``). Only bench/ and the tests may
import this package: nothing the agent runs may know where a fault was injected."""
