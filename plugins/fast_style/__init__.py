"""fast_style: real-time style transfer (Johnson et al. 2016) with instance normalisation."""
