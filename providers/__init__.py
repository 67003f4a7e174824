"""The seam between wanweb and the vendors: plain Python, no Django, no ORM.

A normalised `GenerationRequest` goes in; `Submission` and `Update` objects come out.
"""
