"""The storefront side: the embeddable widget (/widget.js), the demo shop (/shop/), preview links, and the
checks that keep shoppers' beacons honest (attribution)."""
